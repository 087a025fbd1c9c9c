"""The per-video feature cache on disk and its manifest.

Layout (DESIGN §3): `<features>/<split>/<video>.npz` with `frames` int32 [N] (1-based frames that have
a face crop) and `features` [N, D]. Beside them, `manifest.jsonl` (or `manifest-<I>of<N>.jsonl` per
shard) gets one JSON line per finished video: its crop count, backbone, dimension and the backbone
config fingerprint. A cache is trusted only when its manifest line matches, so an interrupted, stale
or foreign cache is redone by `extract` and refused by `train` instead of being silently reused.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from abaw.atomic import save_npz
from abaw.errors import AbawError

log = logging.getLogger("abaw.visual")


@dataclasses.dataclass(frozen=True)
class Entry:
    """One manifest line: a video whose cache was written completely.

    `crops` is how many crop files were found, `frames` how many rows the cache holds (fewer when a
    crop could not be decoded). `written` (seconds since the epoch) orders the lines of different
    manifest files, e.g. a whole-split extraction redone later in shards; 0 for lines without it.
    """

    video: str
    frames: int
    crops: int
    backbone: str
    dim: int
    config_sha: str
    written: float = 0.0

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))


def split_dir(features: Path, split: str) -> Path:
    return features / split


def cache_path(features: Path, split: str, video: str) -> Path:
    return features / split / f"{video}.npz"


def manifest_path(features: Path, split: str, shard: tuple[int, int] = (0, 1)) -> Path:
    index, count = shard
    name = "manifest.jsonl" if count == 1 else f"manifest-{index}of{count}.jsonl"
    return features / split / name


def read_manifest(folder: Path) -> dict[str, Entry]:
    """All entries of every manifest file in `folder`; the most recently written line for a video wins
    (within one file, the later line).

    A torn line (the process died while appending) is skipped with a warning: its video is simply not
    finished and will be extracted again.
    """
    entries: dict[str, Entry] = {}
    for path in sorted(folder.glob("manifest*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = Entry(**json.loads(line))
            except (ValueError, TypeError):
                log.warning("%s:%d: incomplete manifest line ignored (an interrupted run)", path, number)
                continue
            known = entries.get(entry.video)
            if known is None or entry.written >= known.written:
                entries[entry.video] = entry
    return entries


def append_manifest(path: Path, entry: Entry) -> None:
    """Record a finished video, stamped with the time; the cache itself was written atomically before."""
    entry = dataclasses.replace(entry, written=time.time())
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        torn = False
        if fh.seek(0, os.SEEK_END) > 0:
            fh.seek(-1, os.SEEK_END)
            torn = fh.read(1) != b"\n"
        fh.write((("\n" if torn else "") + entry.to_json() + "\n").encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())


def write_cache(path: Path, frames: np.ndarray, features: np.ndarray, dtype: str) -> None:
    save_npz(path, {"frames": np.asarray(frames, dtype=np.int32),
                    "features": features.astype(dtype, copy=False)})


def cached_frames(path: Path) -> np.ndarray | None:
    """The `frames` array of a cache (cheap: the features are not read), None if unreadable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return data["frames"]
    except (OSError, ValueError, KeyError, EOFError):
        return None


def read_cache(path: Path, video: str) -> tuple[np.ndarray, np.ndarray]:
    """(frames int32 [N], features [N,D]) of one video, checked for consistency."""
    if not path.is_file():
        raise AbawError(f"{path}: no feature cache for video {video!r}; run "
                        "`src_visual_dynamic_model/main.py extract` for this split first")
    try:
        with np.load(path, allow_pickle=False) as data:
            frames, features = data["frames"], data["features"]
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise AbawError(f"{path}: unreadable feature cache ({exc}); delete it and rerun extract") from exc
    if features.ndim != 2 or frames.shape != (features.shape[0],):
        raise AbawError(f"{path}: frames {list(frames.shape)} and features {list(features.shape)} "
                        "must be [N] and [N, D]; delete it and rerun extract")
    if frames.size and np.any(np.diff(frames.astype(np.int64)) <= 0):
        raise AbawError(f"{path}: frames are not strictly increasing; the cache is corrupt, rerun extract")
    return frames.astype(np.int32, copy=False), features
