"""Video timing: the measured fps and frame count of every source video, probed once and kept in a CSV.

`python -m abaw timing --config FILE` writes `video,fps,frames` (video = file stem) for the videos behind
every stream of every split. With `[data] video_timing = "file.csv"` every stage reads timing from that
file instead of probing videos, so clips can be planned on a machine without the videos.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from abaw.affwild import (
    SPLIT_DIRS,
    FpsTable,
    VideoInfo,
    base_video,
    find_video_file,
    fps_table_path,
    index_split,
    read_template,
)
from abaw.atomic import atomic_path
from abaw.config import DataConfig, load_section
from abaw.errors import AbawError

TIMING_COLUMNS = ("video", "fps", "frames")
_SHOWN = 5  # missing videos named in one message


def split_videos(data: DataConfig, split: str) -> np.ndarray:
    """The annotation streams of a split: annotation files for train/val, the test template for test."""
    if split == "test":
        return read_template(data.test_template).videos
    return index_split(data.annotations, split).videos


def read_timing(path: str | os.PathLike) -> dict[str, VideoInfo]:
    """Read a `video,fps,frames` CSV; every line must hold a positive fps and frame count."""
    path = Path(path)
    fix = "write it with `python -m abaw timing` (or fix the line)"
    if not path.is_file():
        raise AbawError(f"{path}: video timing file not found; write it with `python -m abaw timing "
                        "--config FILE`, or remove [data] video_timing to probe the videos")
    timing: dict[str, VideoInfo] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != list(TIMING_COLUMNS):
            raise AbawError(f"{path}:1: header {header} is not {','.join(TIMING_COLUMNS)}; {fix}")
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                video, fps, frames = (field.strip() for field in row)
                info = VideoInfo(fps=float(fps), frames=int(frames))
            except ValueError:
                raise AbawError(f"{path}:{line}: expected {','.join(TIMING_COLUMNS)}, got {row}; {fix}") \
                    from None
            if not (math.isfinite(info.fps) and info.fps > 0 and info.frames > 0):
                raise AbawError(f"{path}:{line}: video {video}: {info.frames} frames at {info.fps:g} fps; "
                                f"both must be positive; {fix}")
            timing[video] = info
    return timing


def write_timing(path: str | os.PathLike, timing: dict[str, VideoInfo]) -> Path:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(TIMING_COLUMNS)
        for video in sorted(timing):
            writer.writerow([video, repr(timing[video].fps), timing[video].frames])
    return Path(path)


def _missing(streams: Sequence[str], found: dict[str, VideoInfo]) -> list[str]:
    return sorted({base_video(s) for s in streams} - set(found))


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def probe_videos(data: DataConfig, streams: Sequence[str]) -> dict[str, VideoInfo]:
    """Measure the base video of each stream (cached in `<output_root>/cache/fps.csv`); base stem -> info."""
    bases = sorted({base_video(str(s)) for s in streams})
    files = {base: find_video_file(data.videos, base) for base in bases}
    absent = [base for base, path in files.items() if path is None]
    if absent:
        raise AbawError(f"no video file for {_listed(absent)} under data.videos = {data.videos}; add the "
                        "videos, or set [data] video_timing to a CSV written by `python -m abaw timing`")
    table = FpsTable.load(fps_table_path(data.output_root))
    timing = {base: table.info(path) for base, path in files.items()}
    if table.changed:
        table.save()
    for base, info in timing.items():
        if info.frames < 1 or info.fps <= 0:
            raise AbawError(f"{files[base]}: {info.frames} frames at {info.fps:g} fps; the video is "
                            "unreadable or empty; replace it")
    return timing


def stream_timing(data: DataConfig, streams: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(fps float64 [S], frames int64 [S]) of each stream's base video (`X_left`/`X_right` use `X`).

    Read from `[data] video_timing` when set, else measured from the video files.
    """
    if data.video_timing is not None:
        timing = read_timing(data.video_timing)
        absent = _missing(streams, timing)
        if absent:
            raise AbawError(f"data.video_timing = {data.video_timing}: no line for video {_listed(absent)}; "
                            "rerun `python -m abaw timing` with the videos present")
    else:
        timing = probe_videos(data, streams)
    infos = [timing[base_video(str(s))] for s in streams]
    return (np.array([i.fps for i in infos], dtype=np.float64),
            np.array([i.frames for i in infos], dtype=np.int64))


# ---------------------------------------------------------------------------------------------------- command


def available_streams(data: DataConfig) -> dict[str, np.ndarray]:
    """Streams of every split whose annotation folder (train, val) or template (test) exists."""
    streams = {}
    for split in SPLIT_DIRS:
        source = data.test_template if split == "test" else data.annotations / SPLIT_DIRS[split]
        if source.exists():
            streams[split] = split_videos(data, split)
    if not streams:
        raise AbawError(f"no split found: neither {data.annotations}/<{'|'.join(SPLIT_DIRS.values())}> "
                        f"nor the template {data.test_template} exists; check [data]")
    return streams


def register(subparsers: argparse._SubParsersAction) -> None:
    from abaw.cli import add_command  # abaw.cli imports the command modules, so import it late

    parser = add_command(subparsers, "timing", "measure fps and frame count of every source video into a CSV",
                         run_timing)
    parser.add_argument("--config", type=Path, required=True,
                        help="any config file with a [data] section (other sections are ignored)")
    parser.add_argument("--out", type=Path,
                        help="CSV to write (default: [data] video_timing, "
                        "else <output_root>/video_timing.csv)")


def run_timing(args: argparse.Namespace) -> dict:
    data = load_section(DataConfig, args.config, "data")
    out = args.out or data.video_timing or data.output_root / "video_timing.csv"
    streams = available_streams(data)
    timing = probe_videos(data, np.concatenate(list(streams.values())).tolist())
    write_timing(out, timing)
    counts = ", ".join(f"{split} {len(v)}" for split, v in streams.items())
    print(f"{len(timing)} videos ({counts} streams) -> {out}")
    if data.video_timing is None or Path(out).resolve() != data.video_timing:
        print(f"to plan clips from it without the videos, set in [data]: video_timing = \"{out}\"")
    return {"out": str(out), "videos": len(timing), "streams": {s: len(v) for s, v in streams.items()}}
