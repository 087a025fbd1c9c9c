"""The original implementation's PKL exchange files, converted to and from frames tables.

A PKL is a pickled dict `{"<video>/<NNNNN>.jpg": {"embedding": [D], "prediction": [2], "label": [2]}}` where a
label of -5 means "no label" (NaN in a table). Loading a pickle runs code the file chooses, so reading one
needs an explicit opt-in; writing one is safe.
"""

from __future__ import annotations

import argparse
import os
import pickle
from pathlib import Path

import numpy as np

from abaw.affwild import SPLIT_DIRS, frame_keys, parse_frame_keys
from abaw.atomic import atomic_path
from abaw.cli import add_command
from abaw.errors import AbawError
from abaw.tables import Table, make_meta, read_table, validate_table, write_table

NO_LABEL = -5.0
FIELDS = ("embedding", "prediction", "label")
PICKLE_REFUSED = (
    "refusing to unpickle it: unpickling a file can execute arbitrary code hidden in it, so a PKL is only "
    "read from a source you trust; if you trust this file, pass --allow-pickle (allow_pickle=True in Python)"
)


def table_to_pkl(table: Table) -> dict[str, dict[str, np.ndarray]]:
    """The PKL dict of a frames table; NaN labels become -5."""
    if table.kind != "frames":
        raise AbawError(f"only frames tables convert to PKL, got a {table.kind} table")
    keys = frame_keys(table.videos, table.video_of_row(), table.columns["frame"])
    label = table.columns["label"]
    label = np.where(np.isnan(label), np.float32(NO_LABEL), label).astype(np.float32)
    return {
        key: {"embedding": embedding, "prediction": prediction, "label": row_label}
        for key, embedding, prediction, row_label in zip(
            np.asarray(keys).tolist(), table.columns["embedding"], table.columns["prediction"], label,
            strict=True)
    }


def _stack(field: str, keys: list[str], values: list, source) -> np.ndarray | None:
    """[N, ...] array of one field over every entry; None when no entry has it."""
    missing = [i for i, value in enumerate(values) if field not in value]
    if len(missing) == len(values):
        return None
    if missing:
        raise AbawError(f"{source}: entry {keys[missing[0]]!r} has no {field!r} while other entries do; "
                        "every entry needs the same fields")
    try:
        return np.stack([np.asarray(value[field]) for value in values]).reshape(len(values), -1)
    except (ValueError, TypeError) as exc:
        raise AbawError(f"{source}: field {field!r} cannot be stacked over the entries ({exc}); "
                        "every entry needs a numeric array of the same size") from exc


def _va_or_nan(arr: np.ndarray | None, n: int) -> np.ndarray:
    return np.full((n, 2), np.nan, np.float32) if arr is None else arr.astype(np.float32, copy=False)


def pkl_to_table(data, split: str, *, modality: str = "unknown", producer: str = "abaw convert",
                 source: str | os.PathLike = "<pkl>") -> Table:
    """A frames table from a PKL dict, rows sorted by video id then frame; -5 labels become NaN."""
    if not isinstance(data, dict):
        raise AbawError(f"{source}: holds a {type(data).__name__}, "
                        "expected a dict of '<video>/<NNNNN>.jpg' keys")
    keys, values = list(data), list(data.values())
    pairs = zip(keys, values, strict=True)
    wrong = next((k for k, v in pairs if not isinstance(k, str) or not isinstance(v, dict)), None)
    if wrong is not None:
        raise AbawError(f"{source}: entry {wrong!r} is not a '<video>/<NNNNN>.jpg' key holding a dict of "
                        f"{', '.join(FIELDS)}")
    n = len(keys)
    try:
        videos, video_idx, frames = parse_frame_keys(np.array(keys, dtype=np.str_))
    except AbawError as exc:
        raise AbawError(f"{source}: {exc}") from exc
    embedding, prediction, label = (_stack(field, keys, values, source) for field in FIELDS)
    embedding = np.zeros((n, 0), np.float32) if embedding is None else embedding
    if embedding.dtype != np.float16:
        embedding = embedding.astype(np.float32, copy=False)
    prediction, label = (_va_or_nan(arr, n) for arr in (prediction, label))
    label[label == NO_LABEL] = np.nan  # _stack built a fresh array, so editing it in place is safe

    # Sort videos by id and rows by frame inside each video.
    by_name = np.argsort(videos)
    rank = np.empty(len(videos), dtype=np.int64)
    rank[by_name] = np.arange(len(videos))
    row_video = rank[np.asarray(video_idx, dtype=np.int64)]
    order = np.lexsort((frames, row_video))
    counts = np.bincount(row_video, minlength=len(videos))
    table = Table(
        kind="frames",
        videos=np.asarray(videos, dtype=np.str_)[by_name],
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        columns={"frame": np.asarray(frames, dtype=np.int32)[order], "embedding": embedding[order],
                 "prediction": prediction[order], "label": label[order]},
        meta=make_meta("frames", split, modality, producer, converted_from=str(source)),
    )
    validate_table(table, source)
    return table


def read_pkl(path: str | os.PathLike, split: str, *, allow_pickle: bool = False,
             modality: str = "unknown") -> Table:
    """Unpickle a PKL (only with `allow_pickle`) into a frames table."""
    if not allow_pickle:
        raise AbawError(f"{path}: {PICKLE_REFUSED}")
    if not Path(path).is_file():
        raise AbawError(f"{path}: file not found")
    try:
        with open(path, "rb") as fh:
            data = pickle.load(fh)
    except Exception as exc:  # a damaged or foreign pickle can raise nearly any exception type
        raise AbawError(f"{path}: not a readable PKL ({type(exc).__name__}: {exc})") from exc
    producer = f"abaw convert {Path(path).name}"
    return pkl_to_table(data, split, modality=modality, producer=producer, source=path)


def write_pkl(path: str | os.PathLike, table: Table) -> Path:
    """Write a frames table as a PKL, atomically."""
    data = table_to_pkl(table)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return Path(path)


def run_convert(args: argparse.Namespace) -> dict:
    if args.to == "pkl":
        table = read_table(args.input, kind="frames")
        write_pkl(args.output, table)
    else:
        if args.split is None:
            raise AbawError(f"convert --to npz: give the split of {args.input} with --split "
                            f"({', '.join(SPLIT_DIRS)}); a PKL does not record it")
        table = read_pkl(args.input, args.split, allow_pickle=args.allow_pickle, modality=args.modality)
        write_table(args.output, table)
    print(f"converted {args.input} -> {args.output}: {len(table.videos)} videos, {table.n_rows} frames")
    return {"out": str(args.output), "videos": len(table.videos), "rows": table.n_rows}


def register(subparsers) -> None:
    parser = add_command(subparsers, "convert",
                         "convert a frames table to the original PKL format (--to pkl) or back (--to npz)",
                         run_convert)
    parser.add_argument("input", type=Path, help="frames table (.npz) for --to pkl, PKL for --to npz")
    parser.add_argument("output", type=Path, help="file to write")
    parser.add_argument("--to", required=True, choices=("pkl", "npz"), help="format to write")
    parser.add_argument("--split", choices=tuple(SPLIT_DIRS), help="split of the PKL's frames (--to npz)")
    parser.add_argument("--modality", default="unknown", help="modality recorded in the meta (--to npz)")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="allow unpickling the input PKL; only for files you trust, since unpickling "
                             "can execute code")
