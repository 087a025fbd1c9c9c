"""Aff-Wild2 layout: annotation files, split indexes, the test template, frame keys and video files."""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import re
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from abaw.atomic import atomic_path
from abaw.errors import AbawError
from abaw.grouped import GroupedByVideo

SPLIT_DIRS = {"train": "Train_Set", "val": "Validation_Set", "test": "Test_Set"}
ANNOTATION_HEADER = "valence,arousal"
TEMPLATE_HEADER = "image_location,valence,arousal"
MISSING_LABEL = -5.0
FRAME_DIGITS = 5
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")
FPS_COLUMNS = ("video", "fps", "frames", "path", "stamp")

_BOM = b"\xef\xbb\xbf"
_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")
_SHOWN = 5  # offending lines quoted in one error message


# ---------------------------------------------------------------------------------------------- annotations


@dataclass(frozen=True)
class _Body:
    """The data lines of one annotation file: no header, LF endings, no trailing blank lines."""

    path: Path
    data: bytes
    first_line: int  # file line number of the first data line
    n_lines: int


def _normalise_newlines(raw: bytes) -> bytes:
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):]
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return raw


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise AbawError(f"{path}: file not found") from None
    except OSError as exc:
        raise AbawError(f"{path}: cannot read ({exc.strerror})") from exc


def _read_body(path: Path) -> _Body:
    raw = _normalise_newlines(_read_bytes(path))
    first_line = 1
    if raw[:1].isalpha():
        end = raw.find(b"\n")
        end = len(raw) if end < 0 else end
        header = raw[:end].decode("utf-8", "replace")
        if header.replace(" ", "").lower() != ANNOTATION_HEADER:
            raise AbawError(
                f"{path}:1: header {header!r} is not {ANNOTATION_HEADER!r}; "
                f"write that header (or none) and one 'valence,arousal' line per frame"
            )
        raw = raw[end + 1:]
        first_line = 2
    data = raw.rstrip()
    if not data:
        raise AbawError(f"{path}: no annotation lines; expected one 'valence,arousal' line per frame")
    return _Body(path, data, first_line, data.count(b"\n") + 1)


def _parse_fast(data: bytes, n_lines: int) -> np.ndarray | None:
    """Parse `n_lines` lines of two numbers in one C pass; None when any line is off.

    The caller then locates the bad line with the slow parser, so this never needs to explain itself.
    One comma per line in total plus a clean two-column parse means every line has exactly two fields.
    """
    if data.count(b",") != n_lines:
        return None
    try:
        frame = pd.read_csv(
            io.BytesIO(data), header=None, names=["valence", "arousal"], index_col=False,
            dtype=np.float32, na_filter=False, skip_blank_lines=False, quoting=csv.QUOTE_NONE, engine="c",
        )
    except ValueError:  # pandas' ParserError is a ValueError
        return None
    # Row-major: callers slice rows (frames), and a column-major array would copy on every slice.
    values = np.ascontiguousarray(frame.to_numpy(dtype=np.float32))
    if values.shape != (n_lines, 2):
        return None
    missing = values == MISSING_LABEL
    if not np.all(missing | (np.abs(values) <= 1)):
        return None
    values[missing] = np.nan
    return values


def _parse_slow(body: _Body) -> np.ndarray:
    """Line-by-line parse that names the first bad line; only runs on a file the fast path refused."""
    lines = body.data.decode("utf-8", "replace").split("\n")
    values = np.empty((len(lines), 2), np.float32)
    for i, line in enumerate(lines):
        where = f"{body.path}:{body.first_line + i}"
        if not line.strip():
            raise AbawError(f"{where}: empty line; each frame needs 'valence,arousal' (-5,-5 if unlabelled)")
        fields = line.split(",")
        if len(fields) != 2:
            raise AbawError(f"{where}: expected 2 comma-separated values (valence,arousal), "
                            f"found {len(fields)} in {line!r}")
        for j, (name, text) in enumerate(zip(("valence", "arousal"), fields, strict=True)):
            if not _NUMBER.fullmatch(text):
                raise AbawError(f"{where}: {name} {text.strip()!r} is not a number")
            value = float(text)
            if value != MISSING_LABEL and not -1.0 <= value <= 1.0:
                raise AbawError(f"{where}: {name} {value:g} is outside [-1, 1] (-5 marks no label)")
            values[i, j] = value
    values[values == MISSING_LABEL] = np.nan
    return values


def _parse_body(body: _Body) -> np.ndarray:
    values = _parse_fast(body.data, body.n_lines)
    return values if values is not None else _parse_slow(body)


def _parse_bodies(bodies: list[_Body]) -> np.ndarray:
    """All files parsed as one buffer; if that fails, file by file so the error names the bad line."""
    joined = b"\n".join(body.data for body in bodies)
    values = _parse_fast(joined, sum(body.n_lines for body in bodies))
    del joined
    if values is None:
        values = np.concatenate([_parse_body(body) for body in bodies])
    return values


def read_annotation(path: str | os.PathLike) -> np.ndarray:
    """Read one `<video>.txt`: float32 [N, 2] (valence, arousal) of frames 1..N, NaN where `-5`."""
    return _parse_body(_read_body(Path(path)))


# ---------------------------------------------------------------------------------------------- split index


@dataclass
class SplitIndex(GroupedByVideo):
    """All annotation files of a split as contiguous arrays; rows of video i are `offsets[i]:offsets[i+1]`."""

    videos: np.ndarray  # unicode [V]
    offsets: np.ndarray  # int64 [V+1]
    frames: np.ndarray  # int32 [N], 1-based
    labels: np.ndarray  # float32 [N, 2], NaN = no label

    where = "this split"

    @property
    def n_frames(self) -> int:
        return int(self.offsets[-1])


def _offsets(counts: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def _ranks_within(offsets: np.ndarray) -> np.ndarray:
    """1, 2, ..., n_i for each video, as one int32 array (a cumulative sum that restarts at each offset)."""
    steps = np.ones(int(offsets[-1]), np.int32)
    counts = np.diff(offsets)
    starts = offsets[1:-1]
    steps[starts] = 1 - counts[:-1]
    return np.cumsum(steps, dtype=np.int32)


def index_folder(set_dir: str | os.PathLike) -> SplitIndex:
    """Index a folder of `<video>.txt` annotation files (e.g. `.../Train_Set`), videos sorted by name."""
    set_dir = Path(set_dir)
    if not set_dir.is_dir():
        raise AbawError(f"{set_dir}: annotation folder not found; expected a folder of <video>.txt files")
    with os.scandir(set_dir) as entries:
        names = sorted(e.name for e in entries if e.name.endswith(".txt") and e.is_file())
    if not names:
        raise AbawError(f"{set_dir}: no <video>.txt annotation files in this folder")
    bodies = [_read_body(set_dir / name) for name in names]
    offsets = _offsets(np.array([body.n_lines for body in bodies], np.int64))
    labels = _parse_bodies(bodies)
    videos = np.array([name[: -len(".txt")] for name in names])
    return SplitIndex(videos=videos, offsets=offsets, frames=_ranks_within(offsets), labels=labels)


def split_folder(annotations: str | os.PathLike, split: str | None, default: str) -> tuple[Path, str]:
    """The annotation folder of a split and the split's name, from what a user passes as --annotations.

    `annotations` is the folder holding Train_Set/ and Validation_Set/ (then `split`, else `default`,
    picks one), or one of those folders itself (its name gives the split; a `split` must agree).
    """
    folder = Path(annotations)
    named = {name: key for key, name in SPLIT_DIRS.items()}.get(folder.name)
    if split is not None and split not in SPLIT_DIRS:
        raise AbawError(f"unknown split {split!r}; use one of {', '.join(SPLIT_DIRS)}")
    if named is not None and not (folder / SPLIT_DIRS[split or default]).is_dir():
        if split is not None and split != named:
            raise AbawError(f"{folder}: this is the {named} split's folder but --split is {split}; give the "
                            f"folder holding {', '.join(SPLIT_DIRS.values())} to choose a split")
        return folder, named
    key = split or default
    if (folder / SPLIT_DIRS[key]).is_dir():
        return folder / SPLIT_DIRS[key], key
    if folder.is_dir() and split is None and any(folder.glob("*.txt")):
        return folder, key  # a folder of annotation files under another name: the old form
    raise AbawError(f"{folder / SPLIT_DIRS[key]}: not found; --annotations takes the folder holding "
                    f"{', '.join(SPLIT_DIRS.values())} (with --split) or one of those folders")


def index_split(annotations_dir: str | os.PathLike, split: str) -> SplitIndex:
    """Index `<annotations_dir>/<Train_Set|Validation_Set|Test_Set>` for split train, val or test."""
    if split not in SPLIT_DIRS:
        raise AbawError(f"unknown split {split!r}; use one of {', '.join(SPLIT_DIRS)}")
    return index_folder(Path(annotations_dir) / SPLIT_DIRS[split])


# ---------------------------------------------------------------------------------------------- frame keys


def _gather(buf: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """uint8 [N, width]: the `width` bytes of `buf` from each start (zeros past its end), in one copy."""
    padded = np.concatenate([buf, np.zeros(width, np.uint8)])
    return np.lib.stride_tricks.sliding_window_view(padded, width)[starts]


def _unique_spans(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Byte spans -> (unique names in order of first appearance as unicode [V], int32 [N] name index).

    Only the heads of runs of equal names go through the sort, which is cheap when rows are grouped.
    """
    n = len(starts)
    width = max(int(lengths.max()), 1)
    matrix = _gather(buf, starts, width)
    matrix[np.arange(width) >= lengths[:, None]] = 0
    names = matrix.view(f"S{width}").ravel()
    head = np.ones(n, bool)
    np.not_equal(names[1:], names[:-1], out=head[1:])
    unique, first, inverse = np.unique(names[head], return_index=True, return_inverse=True)
    rank = np.argsort(first)
    renumber = np.empty(len(unique), np.int32)
    renumber[rank] = np.arange(len(unique), dtype=np.int32)
    index = renumber[inverse][np.cumsum(head) - 1]
    try:
        decoded = np.strings.decode(unique[rank], "utf-8")
    except UnicodeDecodeError as exc:
        raise AbawError(f"a video name is not valid UTF-8 ({exc})") from None
    return decoded, index


def _parse_key_spans(
    buf: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse `<video>/<digits>.jpg` in the byte spans [starts, ends) of `buf`.

    Returns (videos unicode [V] in order of first appearance, video_idx int32 [N], frames int32 [N],
    bad bool [N]); when any span is bad, videos and video_idx are empty.
    """
    slashes = np.flatnonzero(buf == ord("/"))
    if len(slashes) == len(starts) and np.all(slashes >= starts) and np.all(slashes < ends):
        slash, bad = slashes, np.zeros(len(starts), bool)  # one slash in each span: no search needed
    else:
        first = np.searchsorted(slashes, starts)
        bad = np.searchsorted(slashes, ends) - first != 1
        slash = slashes[np.minimum(first, max(len(slashes) - 1, 0))] if len(slashes) else starts.copy()
    digits_end = ends - len(".jpg")
    n_digits = digits_end - slash - 1
    bad |= (slash <= starts) | (n_digits < 1) | (n_digits > 9)
    for k, char in enumerate(b".jpg"):
        bad |= buf.take(digits_end + k, mode="clip") != char
    n_digits[bad] = 0
    frames = np.zeros(len(starts), np.int64)
    for j in range(int(n_digits.max(initial=0))):
        used = n_digits > j
        digit = buf.take(slash + 1 + j, mode="clip").astype(np.int64) - ord("0")
        bad |= used & ((digit < 0) | (digit > 9))
        frames = np.where(used, frames * 10 + digit, frames)
    bad |= frames < 1
    if bad.any():
        return np.array([], str), np.array([], np.int32), frames.astype(np.int32), bad
    videos, video_idx = _unique_spans(buf, starts, slash - starts)
    return videos, video_idx, frames.astype(np.int32), bad


def frame_keys(videos: np.ndarray, video_idx: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """`<video>/<NNNNN>.jpg` for each row (frames zero-padded to 5 digits, more when larger)."""
    videos = np.asarray(videos).astype(str)
    frames = np.asarray(frames, np.int64)
    if frames.size == 0:
        return np.array([], str)
    if frames.min() < 0:
        raise AbawError(f"frame numbers must be positive, got {int(frames.min())}")
    prefixes = np.strings.add(videos, "/")
    # Each distinct frame number is formatted once, then gathered.
    numbers = np.arange(int(frames.max()) + 1).astype(str)
    suffixes = np.strings.add(np.strings.zfill(numbers, FRAME_DIGITS), ".jpg")
    return np.strings.add(prefixes[np.asarray(video_idx)], suffixes[frames])


def parse_frame_keys(keys: np.ndarray | list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`<video>/<NNNNN>.jpg` keys -> (videos unicode [V] in order of first appearance, video_idx, frames)."""
    keys = np.asarray(keys)
    if keys.size == 0:
        return np.array([], str), np.array([], np.int32), np.array([], np.int32)
    if keys.dtype.kind != "S":
        keys = np.strings.encode(keys.astype(str), "utf-8")
    keys = np.ascontiguousarray(keys.ravel())
    width = keys.dtype.itemsize
    buf = keys.view(np.uint8)
    starts = np.arange(len(keys), dtype=np.int64) * width
    videos, video_idx, frames, bad = _parse_key_spans(buf, starts, starts + np.strings.str_len(keys))
    if bad.any():
        rows = np.flatnonzero(bad)
        raise AbawError(
            f"frame key #{rows[0]} {keys[rows[0]].decode('utf-8', 'replace')!r} is not '<video>/<NNNNN>.jpg'"
            f" ({len(rows)} bad keys)"
        )
    return videos, video_idx, frames


# ---------------------------------------------------------------------------------------------- test template


@dataclass
class Template(GroupedByVideo):
    """The test template's rows in file order; `order[offsets[i]:offsets[i+1]]` are the rows of video i."""

    path: Path
    videos: np.ndarray  # unicode [V], order of first appearance
    video_idx: np.ndarray  # int32 [N]
    frames: np.ndarray  # int32 [N]
    order: np.ndarray  # int64 [N], row positions grouped by video, file order within a video
    offsets: np.ndarray  # int64 [V+1] into `order`

    @property
    def where(self) -> str:
        return f"the test template {self.path}"

    @property
    def n_rows(self) -> int:
        return len(self.frames)

    @property
    def grouped(self) -> bool:
        """Whether the rows of each video are contiguous in the file (true for the official template)."""
        return bool(np.all(self.video_idx[1:] >= self.video_idx[:-1]))

    def rows(self, video: str) -> np.ndarray:  # type: ignore[override]
        """Row positions (0-based, file order) of one video."""
        i = self.position(video)
        return self.order[self.offsets[i]:self.offsets[i + 1]]

    def keys(self) -> np.ndarray:
        """The `image_location` column, rebuilt."""
        return frame_keys(self.videos, self.video_idx, self.frames)


def _bad_rows_error(path: Path, bad: np.ndarray, body: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                    why: str) -> AbawError:
    """One message for a set of bad template rows: the first quoted, the next few listed by line number."""
    rows = np.flatnonzero(bad)
    first = int(rows[0])
    text = body[starts[first]:ends[first]].tobytes().decode("utf-8", "replace")
    more = ", ".join(str(int(r) + 2) for r in rows[1:_SHOWN])
    extra = f"; also lines {more}" if more else ""
    if len(rows) > _SHOWN:
        extra += f" and {len(rows) - _SHOWN} more"
    return AbawError(f"{path}:{first + 2}: {why}: {text!r}{extra}")


def _check_duplicates(path: Path, videos: np.ndarray, video_idx: np.ndarray, frames: np.ndarray) -> None:
    key = (video_idx.astype(np.int64) << 32) | frames
    if np.all(key[1:] > key[:-1]):  # the official template: grouped and increasing, so no sort is needed
        return
    order = np.argsort(key, kind="stable")
    same = np.flatnonzero(key[order][1:] == key[order][:-1])
    if not same.size:
        return
    earlier, later = order[same], order[same + 1]
    by_line = np.argsort(later)
    earlier, later = earlier[by_line], later[by_line]
    more = ", ".join(str(int(r) + 2) for r in later[1:_SHOWN])
    extra = f"; duplicates also at lines {more}" if more else ""
    key_text = str(frame_keys(videos, video_idx[later[:1]], frames[later[:1]])[0])
    raise AbawError(
        f"{path}:{int(later[0]) + 2}: duplicate row {key_text!r}, already at line "
        f"{int(earlier[0]) + 2}{extra} ({len(later)} duplicate rows); each frame must appear once"
    )


def read_template(path: str | os.PathLike) -> Template:
    """Parse the test template CSV (`image_location,valence,arousal`; the values are placeholders)."""
    path = Path(path)
    raw = _normalise_newlines(_read_bytes(path))
    end = raw.find(b"\n")
    end = len(raw) if end < 0 else end
    header = raw[:end].decode("utf-8", "replace").strip()
    if header != TEMPLATE_HEADER:
        raise AbawError(f"{path}:1: header {header!r} is not {TEMPLATE_HEADER!r}; is this the test template?")
    body = np.frombuffer(raw[end + 1:].rstrip(), np.uint8)
    del raw
    if not body.size:
        raise AbawError(f"{path}: the template has no rows")
    ends = np.append(np.flatnonzero(body == ord("\n")), body.size)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    commas = np.flatnonzero(body == ord(","))
    # Sorted commas hold exactly two per line iff the (2i, 2i+1)-th both fall inside line i.
    if len(commas) != 2 * len(ends) or np.any(commas[0::2] < starts) or np.any(commas[1::2] >= ends):
        per_line = np.bincount(np.searchsorted(ends, commas), minlength=len(ends))
        raise _bad_rows_error(path, per_line != 2, body, starts, ends,
                              "expected 3 comma-separated fields image_location,valence,arousal")
    videos, video_idx, frames, bad = _parse_key_spans(body, starts, commas[0::2])
    if bad.any():
        raise _bad_rows_error(path, bad, body, starts, ends, "image_location is not '<video>/<NNNNN>.jpg'")
    _check_duplicates(path, videos, video_idx, frames)
    offsets = _offsets(np.bincount(video_idx, minlength=len(videos)))
    grouped = np.all(video_idx[1:] >= video_idx[:-1])
    order = np.arange(len(frames), dtype=np.int64) if grouped else np.argsort(video_idx, kind="stable")
    return Template(path=path, videos=videos, video_idx=video_idx, frames=frames, order=order,
                    offsets=offsets)


# ---------------------------------------------------------------------------------------------- video files


def base_video(stem: str) -> str:
    """The video file behind an annotation stem: `<stem>_left` / `<stem>_right` (two persons) -> `<stem>`."""
    for suffix in ("_left", "_right"):
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


@lru_cache(maxsize=8)
def _video_files(videos_dir: str, mtime_ns: int) -> dict[str, Path]:
    """Stem -> file for every video under `videos_dir` (subfolders included); `mtime_ns` keys the cache."""
    rank = {ext: i for i, ext in enumerate(VIDEO_EXTENSIONS)}
    found: dict[str, tuple[int, Path]] = {}
    for folder, subdirs, files in os.walk(videos_dir):
        subdirs.sort()
        for name in sorted(files):
            stem, ext = os.path.splitext(name)
            ext_rank = rank.get(ext.lower())
            if ext_rank is not None and (stem not in found or ext_rank < found[stem][0]):
                found[stem] = (ext_rank, Path(folder) / name)
    return {stem: path for stem, (_, path) in found.items()}


def find_video_file(videos_dir: str | os.PathLike, stem: str) -> Path | None:
    """The video file of an annotation stem (via `base_video`) anywhere under `videos_dir`, or None."""
    try:
        mtime = os.stat(videos_dir).st_mtime_ns
    except OSError:
        return None
    return _video_files(str(videos_dir), mtime).get(base_video(stem))


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    frames: int


def _probe_opencv(path: Path) -> VideoInfo | None:
    import cv2  # heavy import, needed only when a video is actually probed

    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return None
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    if not (math.isfinite(fps) and fps > 0 and frames > 0):
        return None
    return VideoInfo(fps=fps, frames=frames)


_FFMPEG_FPS = re.compile(r"Video:.*?(\d+(?:\.\d+)?)(k?) (?:fps|tbr)")
_FFMPEG_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")


def _probe_ffmpeg(path: Path) -> VideoInfo | None:
    """fps and an estimated frame count from `ffmpeg -i` (the ffmpeg that ships with imageio-ffmpeg)."""
    try:
        from imageio_ffmpeg import get_ffmpeg_exe

        exe = get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return None
    try:  # ffmpeg exits 1 with no output file; the stream description is still on stderr
        text = subprocess.run([exe, "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True,
                              text=True, errors="replace", timeout=120).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    rate, duration = _FFMPEG_FPS.search(text), _FFMPEG_DURATION.search(text)
    if rate is None or duration is None:
        return None
    fps = float(rate.group(1)) * (1000 if rate.group(2) else 1)
    hours, minutes, seconds = duration.groups()
    frames = round((int(hours) * 3600 + int(minutes) * 60 + float(seconds)) * fps)
    return VideoInfo(fps=fps, frames=frames) if fps > 0 else None


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """fps and frame count measured from the file (OpenCV, else ffmpeg); the fps in a name is not trusted."""
    path = Path(path)
    if not path.is_file():
        raise AbawError(f"{path}: video file not found")
    info = _probe_opencv(path) or _probe_ffmpeg(path)
    if info is None:
        raise AbawError(f"{path}: neither OpenCV nor ffmpeg can read its frame rate; is it a video file?")
    return info


def measure_fps(path: str | os.PathLike) -> float:
    return probe_video(path).fps


def fps_table_path(output_root: str | os.PathLike) -> Path:
    """Where the shared fps cache lives under a `[data] output_root`."""
    return Path(output_root) / "cache" / "fps.csv"


@dataclass
class FpsTable:
    """A CSV cache (`video,fps,frames,path,stamp`) of measured frame rates; `get` measures what is missing.

    `stamp` is the file's size and modification time: a video replaced under the same name (a regenerated
    dataset, say) is measured again instead of keeping the old file's figures.
    """

    path: Path
    entries: dict[str, tuple[VideoInfo, str, str]] = field(default_factory=dict)
    changed: bool = False

    @classmethod
    def load(cls, path: str | os.PathLike) -> FpsTable:
        path = Path(path)
        table = cls(path)
        if not path.exists():
            return table
        fix = "delete the file to rebuild the cache"
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header != list(FPS_COLUMNS):
                raise AbawError(f"{path}:1: header {header} is not {','.join(FPS_COLUMNS)}; {fix}")
            for line, row in enumerate(reader, start=2):
                try:
                    video, fps, frames, source, stamp = row
                    table.entries[video] = (VideoInfo(fps=float(fps), frames=int(frames)), source, stamp)
                except ValueError:
                    raise AbawError(f"{path}:{line}: expected {','.join(FPS_COLUMNS)}, got {row}; {fix}") \
                        from None
        return table

    def info(self, video_path: str | os.PathLike) -> VideoInfo:
        """Cached fps and frame count of a video file, measured (and cached) on first use."""
        video_path = Path(video_path)
        source = str(video_path.resolve())
        try:
            stat = video_path.stat()
        except OSError as exc:
            raise AbawError(f"{video_path}: cannot read the video file ({exc})") from exc
        stamp = f"{stat.st_size}:{stat.st_mtime_ns}"
        cached = self.entries.get(video_path.stem)
        if cached is None or cached[1:] != (source, stamp):
            cached = (probe_video(video_path), source, stamp)
            self.entries[video_path.stem] = cached
            self.changed = True
        return cached[0]

    def get(self, video_path: str | os.PathLike) -> float:
        return self.info(video_path).fps

    def save(self) -> Path:
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(FPS_COLUMNS)
            for video in sorted(self.entries):
                info, source, stamp = self.entries[video]
                writer.writerow([video, repr(info.fps), info.frames, source, stamp])
        self.changed = False
        return self.path


# ---------------------------------------------------------------------------------------------- command


def register(subparsers: argparse._SubParsersAction) -> None:
    from abaw.cli import add_command  # abaw.cli imports the command modules, so import it late

    parser = add_command(subparsers, "index", "index a split's annotation files, count frames", run_index)
    parser.add_argument("--annotations", type=Path, required=True,
                        help="folder holding Train_Set / Validation_Set / Test_Set (or one of them)")
    parser.add_argument("--split", choices=list(SPLIT_DIRS), help="default: train, or the folder's own split")


def run_index(args: argparse.Namespace) -> dict:
    folder, split = split_folder(args.annotations, args.split, "train")
    index = index_folder(folder)
    labelled = int(np.isfinite(index.labels).all(axis=1).sum())
    result = {"videos": len(index.videos), "frames": index.n_frames, "labelled": labelled,
              "missing": index.n_frames - labelled}
    print(f"{split} ({folder}): {result['videos']} videos, "
          f"{result['frames']} frames, {labelled} labelled, {result['missing']} unlabelled (-5)")
    return result
