"""Exchange tables: the `.npz` files stages hand each other (frames, segments, windows), checked both ways.

A table groups its rows by video in CSR style: `videos` [V] names the videos, rows of video i are
`offsets[i]:offsets[i+1]`, and every other array is a column whose first axis is the row. A 0-d unicode
array `meta` holds a JSON header. Files are written atomically and read with pickle disabled.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import numpy as np

from abaw.atomic import save_npz, write_text
from abaw.cli import add_command
from abaw.errors import AbawError
from abaw.grouped import GroupedByVideo, positions_in
from abaw.npzfile import load_npz
from abaw.smoothing import SmoothingOption

KINDS = ("frames", "segments", "windows")
RESERVED = ("videos", "offsets", "meta")
EMBEDDING_PREFIX = "embedding/"  # segments keep one column per pooled vector: embedding/<name>

_F16, _F32, _I32 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.int32)


@dataclass(frozen=True)
class _Spec:
    """What one column must look like: allowed dtypes and the shape after the row axis (None = any size)."""

    dtypes: tuple[np.dtype, ...]
    tail: tuple[int | None, ...]
    tail_names: tuple[str, ...] = ()


_ROW_INDEX = _Spec((_I32,), ())
_VA = _Spec((_F32,), (2,), ("2",))
_SCALAR = _Spec((_F32,), ())
_EMBEDDING_2D = _Spec((_F16, _F32), (None,), ("D",))
_SCHEMAS: dict[str, dict[str, _Spec]] = {
    "frames": {"frame": _ROW_INDEX, "embedding": _EMBEDDING_2D, "prediction": _VA, "label": _VA},
    "segments": {"start": _ROW_INDEX, "stop": _ROW_INDEX, "label": _VA},
    "windows": {
        "start": _ROW_INDEX,
        "stop": _ROW_INDEX,
        "embedding": _Spec((_F16, _F32), (None, None), ("S", "D")),
        "prediction": _Spec((_F32,), (None, 2), ("S", "2")),
        "label": _Spec((_F32,), (None, 2), ("S", "2")),
        "open_sec": _SCALAR,
        "coverage": _SCALAR,
        "speech_ratio": _SCALAR,
    },
}


@dataclass(frozen=True)
class FramesExport:
    """The `[export]` section of a stage that writes a `frames` table per split."""

    splits: tuple[str, ...] = ("train", "val", "test")
    embedding_dtype: Literal["float32", "float16"] = "float32"
    out: Path | None = None
    smoothing: SmoothingOption = SmoothingOption()


@dataclass(eq=False)
class Table(GroupedByVideo):
    """One exchange table in memory; `columns` maps a column name to an array whose first axis is the row."""

    kind: str
    videos: np.ndarray
    offsets: np.ndarray
    columns: dict[str, np.ndarray]
    meta: dict

    @property
    def where(self) -> str:
        return f"this {self.kind} table"

    @property
    def n_rows(self) -> int:
        return int(self.offsets[-1])


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def make_meta(kind: str, split: str, modality: str, producer: str, config_sha: str = "", **extra) -> dict:
    """The JSON header of a table; `extra` holds producer-specific keys (JSON-serialisable)."""
    if kind not in KINDS:
        raise AbawError(f"unknown table kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    return {
        "format": f"abaw.{kind}/1",
        "kind": kind,
        "split": split,
        "modality": modality,
        "producer": producer,
        "created": _now(),
        "config_sha": config_sha,
        **extra,
    }


# ---------------------------------------------------------------------------------------------- constructors


def _cast(value, dtype: np.dtype) -> np.ndarray:
    """Cast to the schema dtype when that loses nothing meaningful (ints to int32 in range, numbers to
    float32); anything else is left as is so that validation names the wrong dtype."""
    arr = np.asarray(value)
    if arr.size == 0 and arr.dtype.kind in "fiub":  # np.asarray([]) is float64
        return arr.astype(dtype)
    if dtype.kind == "i" and arr.dtype.kind in "iu":
        info = np.iinfo(dtype)
        if arr.min() >= info.min and arr.max() <= info.max:
            return arr.astype(dtype, copy=False)
    elif dtype.kind == "f" and arr.dtype.kind in "fiu":
        keep = arr.dtype == _F16 and dtype == _F32  # half-precision embeddings stay half precision
        return arr if keep else arr.astype(dtype, copy=False)
    return arr


def _nan(shape: tuple[int, ...]) -> np.ndarray:
    return np.full(shape, np.nan, dtype=np.float32)


def _build(kind: str, videos, offsets, columns: dict[str, np.ndarray], meta: dict) -> Table:
    table = Table(
        kind=kind,
        videos=np.array(videos, dtype=np.str_).reshape(-1),
        offsets=_cast(offsets, np.dtype(np.int64)),
        columns=columns,
        meta=dict(meta),
    )
    validate_table(table, f"<{kind} table>")
    return table


def frames_table(videos, offsets, *, frame, meta: dict, embedding=None, prediction=None, label=None,
                 **extra) -> Table:
    """A `frames` table; a missing embedding is [N,0], a missing prediction or label is NaN."""
    frame = _cast(frame, _I32)
    n = len(frame)
    columns = {
        "frame": frame,
        "embedding": np.zeros((n, 0), _F32) if embedding is None else _cast(embedding, _F32),
        "prediction": _nan((n, 2)) if prediction is None else _cast(prediction, _F32),
        "label": _nan((n, 2)) if label is None else _cast(label, _F32),
        **{name: np.asarray(value) for name, value in extra.items()},
    }
    return _build("frames", videos, offsets, columns, meta)


def segments_table(videos, offsets, *, start, stop, meta: dict, embeddings: Mapping[str, np.ndarray] = (),
                   label=None, **extra) -> Table:
    """A `segments` table; `embeddings` maps a pooled-vector name to its [N,D] array."""
    start, stop = _cast(start, _I32), _cast(stop, _I32)
    columns = {
        "start": start,
        "stop": stop,
        "label": _nan((len(start), 2)) if label is None else _cast(label, _F32),
        **{EMBEDDING_PREFIX + name: _cast(value, _F32) for name, value in dict(embeddings).items()},
        **{name: np.asarray(value) for name, value in extra.items()},
    }
    return _build("segments", videos, offsets, columns, meta)


def windows_table(videos, offsets, *, start, stop, meta: dict, embedding=None, prediction=None, label=None,
                  open_sec=None, coverage=None, speech_ratio=None, **extra) -> Table:
    """A `windows` table of S steps per window; absent predictions, labels and reliability columns are NaN."""
    start, stop = _cast(start, _I32), _cast(stop, _I32)
    n = len(start)
    given = [np.asarray(a) for a in (prediction, label, embedding) if a is not None]
    if not given:
        raise AbawError("windows_table needs at least one of embedding, prediction, label to know the steps")
    steps = given[0].shape[1] if given[0].ndim > 1 else 0
    columns = {
        "start": start,
        "stop": stop,
        "embedding": np.zeros((n, steps, 0), _F32) if embedding is None else _cast(embedding, _F32),
        "prediction": _nan((n, steps, 2)) if prediction is None else _cast(prediction, _F32),
        "label": _nan((n, steps, 2)) if label is None else _cast(label, _F32),
        "open_sec": _nan((n,)) if open_sec is None else _cast(open_sec, _F32),
        "coverage": _nan((n,)) if coverage is None else _cast(coverage, _F32),
        "speech_ratio": _nan((n,)) if speech_ratio is None else _cast(speech_ratio, _F32),
        **{name: np.asarray(value) for name, value in extra.items()},
    }
    return _build("windows", videos, offsets, columns, meta)


# ------------------------------------------------------------------------------------------------ validation


def _video_of(offsets: np.ndarray, row: int) -> int:
    return int(np.searchsorted(offsets, row, side="right") - 1)


def _check_layout(table: Table, source) -> None:
    videos, offsets = table.videos, table.offsets
    if videos.ndim != 1 or videos.dtype.kind != "U":
        raise AbawError(f"{source}: 'videos' must be a 1-d unicode array, got {videos.dtype} {videos.shape}")
    if videos.size and (np.char.str_len(videos) == 0).any():
        raise AbawError(f"{source}: 'videos' holds an empty video id at position "
                        f"{int(np.flatnonzero(np.char.str_len(videos) == 0)[0])}")
    ordered = np.sort(videos)
    same = np.flatnonzero(ordered[1:] == ordered[:-1])
    if same.size:
        raise AbawError(f"{source}: video {str(ordered[same[0]])!r} appears twice in 'videos'; "
                        "each video's rows must be contiguous under one id")
    if offsets.dtype != np.int64 or offsets.shape != (len(videos) + 1,):
        raise AbawError(f"{source}: 'offsets' must be int64 [V+1] = [{len(videos) + 1}], "
                        f"got {offsets.dtype} {list(offsets.shape)}")
    if offsets[0] != 0:
        raise AbawError(f"{source}: 'offsets' must start at 0, starts at {int(offsets[0])}")
    drops = np.flatnonzero(np.diff(offsets) < 0)
    if drops.size:
        raise AbawError(f"{source}: 'offsets' decrease at video {str(videos[drops[0]])!r} "
                        f"({int(offsets[drops[0]])} -> {int(offsets[drops[0] + 1])}); they must be monotone")


def _check_meta(table: Table, source) -> None:
    if table.kind not in KINDS:
        raise AbawError(f"{source}: unknown table kind {table.kind!r}; valid kinds: {', '.join(KINDS)}")
    meta = table.meta
    if not isinstance(meta, dict) or meta.get("kind") != table.kind:
        found = meta.get("kind") if isinstance(meta, dict) else meta
        raise AbawError(f"{source}: meta kind {found!r} does not match the table kind {table.kind!r}; "
                        "build meta with abaw.tables.make_meta")
    if meta.get("format") != f"abaw.{table.kind}/1":
        raise AbawError(f"{source}: unsupported format {meta.get('format')!r}, "
                        f"expected 'abaw.{table.kind}/1'")


def _shape_text(spec: _Spec) -> str:
    return "[" + ", ".join(["N", *spec.tail_names]) + "]"


def _check_column(name: str, arr: np.ndarray, spec: _Spec, n: int, source) -> None:
    if arr.dtype not in spec.dtypes:
        wanted = " or ".join(str(d) for d in spec.dtypes)
        raise AbawError(f"{source}: column {name!r} has dtype {arr.dtype}, expected {wanted}; "
                        f"convert it with .astype(...) before building the table")
    fits = arr.ndim == 1 + len(spec.tail) and all(
        want is None or got == want for got, want in zip(arr.shape[1:], spec.tail, strict=False))
    if not fits or arr.shape[0] != n:
        raise AbawError(f"{source}: column {name!r} has shape {list(arr.shape)}, "
                        f"expected {_shape_text(spec)} with N = {n} rows")


def _check_order(table: Table, name: str, strict: bool, source) -> None:
    """Inside each video, `name` must increase (strictly for frames, non-decreasing for starts)."""
    values = table.columns[name]
    step = np.diff(values.astype(np.int64))
    inside = np.ones(step.shape, dtype=bool)
    boundaries = table.offsets[1:-1]
    inside[boundaries[(boundaries > 0) & (boundaries < len(values))] - 1] = False
    bad = np.flatnonzero(inside & ((step <= 0) if strict else (step < 0)))
    if bad.size:
        row = int(bad[0]) + 1
        video = str(table.videos[_video_of(table.offsets, row)])
        what = "appears twice" if step[bad[0]] == 0 else "is out of order"
        raise AbawError(f"{source}: column {name!r}: in video {video!r}, {name} {int(values[row])} "
                        f"at row {row} {what} (previous {int(values[row - 1])}); "
                        f"sort rows by {name} inside each video")


def _check_values(table: Table, source) -> None:
    cols = table.columns
    if table.kind == "frames":
        low = np.flatnonzero(cols["frame"] < 1)
        if low.size:
            video = str(table.videos[_video_of(table.offsets, int(low[0]))])
            raise AbawError(f"{source}: column 'frame': in video {video!r}, "
                            f"frame {int(cols['frame'][low[0]])} at row {int(low[0])} is below 1; "
                            "frames are 1-based")
        _check_order(table, "frame", strict=True, source=source)
        return
    bad = np.flatnonzero((cols["start"] < 0) | (cols["stop"] <= cols["start"]))
    if bad.size:
        row = int(bad[0])
        video = str(table.videos[_video_of(table.offsets, row)])
        raise AbawError(f"{source}: columns 'start'/'stop': in video {video!r}, row {row} is "
                        f"[{int(cols['start'][row])}, {int(cols['stop'][row])}); need 0 <= start < stop")
    _check_order(table, "start", strict=False, source=source)
    if table.kind == "windows":
        steps = {name: cols[name].shape[1] for name in ("embedding", "prediction", "label")}
        if len(set(steps.values())) > 1:
            raise AbawError(f"{source}: columns 'embedding', 'prediction', 'label' disagree on the steps "
                            f"per window (axis 1): {steps}")


def validate_table(table: Table, source: str | os.PathLike = "<table>") -> None:
    """Raise AbawError naming `source`, the column and the video for the first schema violation."""
    _check_meta(table, source)
    _check_layout(table, source)
    schema = _SCHEMAS[table.kind]
    for name in schema:
        if name not in table.columns:
            raise AbawError(f"{source}: {table.kind} table lacks column {name!r}; "
                            f"required columns: {', '.join(schema)}")
    key = next(iter(schema))  # frame or start: its length is the row count
    n = len(np.atleast_1d(table.columns[key]))
    if table.offsets[-1] != n:
        raise AbawError(f"{source}: 'offsets' end at {int(table.offsets[-1])} but column {key!r} has "
                        f"{n} rows; the last offset must equal the number of rows")
    for name, arr in table.columns.items():
        if name in RESERVED:
            raise AbawError(f"{source}: column name {name!r} is reserved; rename the column")
        if not isinstance(arr, np.ndarray):
            raise AbawError(f"{source}: column {name!r} is a {type(arr).__name__}, expected a numpy array")
        spec = schema.get(name)
        if spec is None and table.kind == "segments" and name.startswith(EMBEDDING_PREFIX):
            spec = _EMBEDDING_2D
        if spec is not None:
            _check_column(name, arr, spec, n, source)
        elif arr.dtype == object or arr.ndim == 0 or arr.shape[0] != n:
            raise AbawError(f"{source}: column {name!r} ({arr.dtype} {list(arr.shape)}) must be a non-object "
                            f"array with one entry per row (N = {n})")
    _check_values(table, source)


# --------------------------------------------------------------------------------------------------- file I/O


def write_table(path: str | os.PathLike, table: Table, compress: bool = False) -> Path:
    """Validate `table` and write it atomically; an invalid table leaves no file behind."""
    validate_table(table, path)
    arrays = {
        "videos": table.videos,
        "offsets": table.offsets,
        "meta": np.array(json.dumps(table.meta)),
        **table.columns,
    }
    return save_npz(path, arrays, compress=compress)


def _parse_meta(arr: np.ndarray, path) -> dict:
    if arr.ndim != 0 or arr.dtype.kind != "U":
        raise AbawError(f"{path}: 'meta' must be a 0-d unicode array holding JSON, "
                        f"got {arr.dtype} {list(arr.shape)}")
    try:
        meta = json.loads(str(arr))
    except json.JSONDecodeError as exc:
        raise AbawError(f"{path}: 'meta' is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise AbawError(f"{path}: 'meta' must hold a JSON object, got {type(meta).__name__}")
    return meta


RERUN_TABLE = "write it again with the command that produced it (its stage's export, or abaw merge/convert)"


def read_table(path: str | os.PathLike, kind: str | None = None, rerun: str = RERUN_TABLE,
               mmap: bool = False) -> Table:
    """Read and validate a table; `kind` (frames, segments, windows) is required to match when given.

    A damaged file is an `AbawError` ending with `rerun`, the advice on how to write it again. With
    `mmap`, the columns are read-only views of the file (see `abaw.npzfile.load_npz`)."""
    arrays = load_npz(path, rerun, mmap=mmap)
    for key in RESERVED:
        if key not in arrays:
            raise AbawError(f"{path}: no {key!r} array, so this is not an abaw table "
                            "(tables are written by abaw.tables.write_table)")
    meta = _parse_meta(arrays.pop("meta"), path)
    found = meta.get("kind")
    if kind is not None and found != kind:
        raise AbawError(f"{path}: is a {found!r} table, expected a {kind!r} table")
    table = Table(kind=str(found), videos=arrays.pop("videos"), offsets=arrays.pop("offsets"),
                  columns=arrays, meta=meta)
    validate_table(table, path)
    return table


# ---------------------------------------------------------------------------------------------------- lookups


def video_positions(table: Table, videos) -> np.ndarray:
    """int64 [M]: position in `table.videos` of each query video id, -1 for ids the table lacks."""
    videos = np.asarray(videos, dtype=np.str_).reshape(-1)
    if len(table.videos) == 0 or videos.size == 0:
        return np.full(videos.shape, -1, dtype=np.int64)
    # Queries usually come grouped by video (a template, a split): resolve each run of equal ids once.
    heads = np.concatenate([[0], np.flatnonzero(videos[1:] != videos[:-1]) + 1])
    names, inverse = np.unique(videos[heads], return_inverse=True)
    found = positions_in(table.videos, names)
    return np.repeat(found[inverse.reshape(-1)], np.diff(np.append(heads, videos.size)))


def lookup_rows(table: Table, videos, frames, nearest: bool = False) -> np.ndarray:
    """int64 [M]: the row of each (video, frame) query in a frames table, -1 where absent.

    With `nearest`, a missing frame takes the row of the nearest frame of the same video (the earlier one on
    a tie); only a video with no rows gives -1.
    """
    _need_frames(table)
    frames = np.asarray(frames, dtype=np.int64).reshape(-1)
    pos = video_positions(table, videos)
    if pos.shape != frames.shape:
        raise AbawError(f"lookup: {len(pos)} videos but {len(frames)} frames; give one video per frame")
    return _rows_at(table, pos, frames, nearest)


def align_rows(table: Table, videos, offsets: np.ndarray, frames) -> tuple[np.ndarray, np.ndarray]:
    """A frames table aligned to positions grouped by video like a table (`videos` [V], `offsets` [V+1],
    `frames` [N]): int64 [N] the row of each position's frame, else of the nearest frame of its video
    (the earlier one on a tie; -1 where the table has no row of the video), and bool [N] whether that row
    is the position's own frame.

    The same answers as `lookup_rows` with and without `nearest`, in one pass and with video ids resolved
    once per video rather than once per frame."""
    _need_frames(table)
    frames = np.asarray(frames, dtype=np.int64).reshape(-1)
    if (np.array_equal(table.offsets, offsets) and np.array_equal(table.videos, videos)
            and np.array_equal(table.columns["frame"], frames)):
        # Laid out like the positions (an earlier stage's export of this split): every row is its own.
        return np.arange(len(frames), dtype=np.int64), np.ones(len(frames), bool)
    pos = np.repeat(video_positions(table, videos), np.diff(offsets))
    rows = _rows_at(table, pos, frames, nearest=True)
    if table.n_rows == 0:
        return rows, np.zeros(len(rows), bool)
    exact = (rows >= 0) & (table.columns["frame"][np.maximum(rows, 0)] == frames)
    return rows, exact


def _need_frames(table: Table) -> None:
    if table.kind != "frames":
        raise AbawError(f"lookup by frame needs a frames table, got a {table.kind} table")


def _rows_at(table: Table, pos: np.ndarray, frames: np.ndarray, nearest: bool) -> np.ndarray:
    """The rows of (video position in the table, frame) queries: one sorted key `position * span + frame`
    over the whole table answers every query with a single `searchsorted`."""
    result = np.full(frames.shape, -1, dtype=np.int64)
    table_frames = table.columns["frame"].astype(np.int64)
    if table_frames.size == 0:
        return result
    low, high = int(table_frames.min()), int(table_frames.max())
    # Clipping to one step outside the table's range keeps every answer and bounds the key.
    query = np.clip(frames, low - 1, high + 1)
    span = high - low + 3
    keys = table.video_of_row() * span + (table_frames - low + 1)
    known = pos >= 0
    safe_pos = np.where(known, pos, 0)
    wanted = safe_pos * span + (query - low + 1)
    at = np.searchsorted(keys, wanted)
    if not nearest:
        hit = known & (at < len(keys)) & (keys[np.minimum(at, len(keys) - 1)] == wanted)
        result[hit] = at[hit]
        return result
    start, stop = table.offsets[safe_pos], table.offsets[safe_pos + 1]
    has_rows = known & (stop > start)
    # A video without rows may start at the table's end; point its (discarded) candidates at row 0.
    first, last = np.where(has_rows, start, 0), np.where(has_rows, stop - 1, 0)
    right = np.clip(at, first, last)
    left = np.clip(at - 1, first, last)
    left_wins = np.abs(table_frames[left] - query) <= np.abs(table_frames[right] - query)
    result[has_rows] = np.where(left_wins, left, right)[has_rows]
    return result


# ------------------------------------------------------------------------------------------------------ merge


def _check_same(tables: Sequence[Table], names: Sequence[str]) -> None:
    first, first_name = tables[0], names[0]
    for table, name in zip(tables[1:], names[1:], strict=True):
        for key in ("kind", "split", "modality", "config_sha"):
            if table.meta.get(key) != first.meta.get(key):
                raise AbawError(f"{name}: meta {key} is {table.meta.get(key)!r} but {first_name} has "
                                f"{first.meta.get(key)!r}; only shards of one run can be merged")
        if set(table.columns) != set(first.columns):
            raise AbawError(f"{name}: columns {sorted(table.columns)} differ from {first_name}'s "
                            f"{sorted(first.columns)}")
        for column, arr in table.columns.items():
            ref = first.columns[column]
            if arr.dtype != ref.dtype or arr.shape[1:] != ref.shape[1:]:
                raise AbawError(f"{name}: column {column!r} is {arr.dtype} {list(arr.shape[1:])} per row but "
                                f"{first_name} has {ref.dtype} {list(ref.shape[1:])}")


def merge_tables(tables: Sequence[Table], names: Sequence[str] | None = None) -> Table:
    """Concatenate shard tables of disjoint videos into one table sorted by video id.

    `names` label the shards in error messages (their file names, say)."""
    if not tables:
        raise AbawError("merge: no tables to merge")
    names = [f"shard {i}" for i in range(len(tables))] if names is None else list(names)
    _check_same(tables, names)
    videos = np.concatenate([t.videos for t in tables])
    shard_of = np.repeat(np.arange(len(tables)), [len(t.videos) for t in tables])
    order = np.argsort(videos, kind="stable")
    ordered = videos[order]
    twice = np.flatnonzero(ordered[1:] == ordered[:-1])
    if twice.size:
        a, b = shard_of[order[twice[0]]], shard_of[order[twice[0] + 1]]
        raise AbawError(f"merge: video {str(ordered[twice[0]])!r} is in both {names[a]} and {names[b]}; "
                        "shards must hold disjoint videos")
    bases = np.cumsum([0] + [t.n_rows for t in tables])
    starts = np.concatenate([t.offsets[:-1] + base for t, base in zip(tables, bases, strict=False)])
    counts = np.concatenate([np.diff(t.offsets) for t in tables])[order]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    # Row r of the merged table comes from old row starts[video] + (r - offsets[video]).
    take = np.repeat(starts[order] - offsets[:-1], counts) + np.arange(offsets[-1], dtype=np.int64)
    columns = {name: np.concatenate([t.columns[name] for t in tables])[take] for name in tables[0].columns}
    meta = {**tables[0].meta, "created": _now(), "shards": len(tables)}
    merged = Table(kind=tables[0].kind, videos=ordered, offsets=offsets, columns=columns, meta=meta)
    validate_table(merged, "merge")
    return merged


# ---------------------------------------------------------------------------------------------------- command


def _merge_paths(args: argparse.Namespace) -> tuple[Path, list[Path]]:
    paths = list(args.paths)
    out = args.out if args.out is not None else (paths.pop(0) if paths else None)
    inputs = paths + list(args.inputs)
    if out is None or not inputs:
        raise AbawError("merge: give the output and at least one input: abaw merge OUT IN1 IN2 ... "
                        "or abaw merge --out OUT --inputs IN1 IN2 ...")
    resolved = [Path(p).resolve() for p in inputs]
    if Path(out).resolve() in resolved:
        raise AbawError(f"merge: output {out} is also an input; write the merged table to a new file")
    if len(set(resolved)) < len(resolved):
        raise AbawError("merge: an input is given twice; list each shard once")
    return Path(out), [Path(p) for p in inputs]


def texts_sidecar(table_path: str | os.PathLike) -> Path:
    """`<dir>/<name>.texts.jsonl` beside `<dir>/<name>.npz`: per-row JSON lines with a "video" key."""
    path = Path(table_path)
    return path.with_name(path.name.removesuffix(".npz") + ".texts.jsonl")


def merge_texts(out: Path, inputs: Sequence[Path], videos: np.ndarray) -> Path | None:
    """Join the inputs' texts sidecars in the merged table's video order; None when an input has none."""
    sidecars = [texts_sidecar(p) for p in inputs]
    if not all(p.is_file() for p in sidecars):
        return None
    by_video: dict[str, list[str]] = {}
    for sidecar in sidecars:
        for number, line in enumerate(sidecar.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                by_video.setdefault(str(json.loads(line)["video"]), []).append(line)
            except (ValueError, KeyError, TypeError):
                raise AbawError(f"{sidecar}:{number}: not a JSON object with a \"video\" key; the texts "
                                "sidecar is damaged, rerun the shard that wrote it") from None
    lines = [line for video in videos.tolist() for line in by_video.get(video, [])]
    return write_text(texts_sidecar(out), "".join(line + "\n" for line in lines))


def run_merge(args: argparse.Namespace) -> dict:
    out, inputs = _merge_paths(args)
    merged = merge_tables([read_table(p) for p in inputs], names=[str(p) for p in inputs])
    write_table(out, merged)
    texts = merge_texts(out, inputs, merged.videos)
    print(f"merged {len(inputs)} shards: {len(merged.videos)} videos, {merged.n_rows} rows -> {out}"
          + (f" (texts: {texts})" if texts else ""))
    result = {"out": str(out), "shards": len(inputs), "videos": len(merged.videos), "rows": merged.n_rows}
    return {**result, "texts": str(texts)} if texts else result


def register(subparsers) -> None:
    parser = add_command(subparsers, "merge", "merge shard tables (written with --shard I/N) into one table",
                         run_merge)
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="OUT then the input tables (or use --out and --inputs)")
    parser.add_argument("--out", help="merged table to write")
    parser.add_argument("--inputs", nargs="+", default=[], metavar="IN", help="shard tables to merge")
