"""The per-video feature cache on disk and its manifest.

Layout (DESIGN §3): `<features>/<split>/<video>.npz` with `frames` int32 [N] (1-based frames that have
a face crop) and `features` [N, D]. Beside them, the split's `abaw.manifest` (`manifest.jsonl`, or
`manifest-<I>of<N>.jsonl` per shard) gets one line per finished video: the fingerprint of its crop
files as inputs, the backbone config fingerprint as identity, and as info its `frames` (rows),
`crops` (files found), `backbone` and `dim`. A cache is trusted only when its manifest line matches,
so an interrupted, damaged, stale or foreign cache is redone by `extract` and refused by `train`
instead of being silently reused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from abaw.atomic import save_npz
from abaw.errors import AbawError
from abaw.manifest import Manifest, Shard
from abaw.npzfile import load_npz

RERUN = "rerun `src_visual_dynamic_model/main.py extract` for this split, which redoes damaged caches"


def split_dir(features: Path, split: str) -> Path:
    return features / split


def cache_path(features: Path, split: str, video: str) -> Path:
    return features / split / f"{video}.npz"


def open_manifest(features: Path, split: str, identity: str, shard: Shard = (0, 1)) -> Manifest:
    """The split's manifest; `identity` is the backbone config fingerprint (`config.backbone_sha`)."""
    return Manifest(split_dir(features, split), identity, shard)


def write_cache(path: Path, frames: np.ndarray, features: np.ndarray, dtype: str) -> None:
    save_npz(path, {"frames": np.asarray(frames, dtype=np.int32),
                    "features": features.astype(dtype, copy=False)})


def read_cache(path: Path, video: str) -> tuple[np.ndarray, np.ndarray]:
    """(frames int32 [N], features [N,D]) of one video, checked for consistency."""
    if not path.is_file():
        raise AbawError(f"{path}: no feature cache for video {video!r}; run "
                        "`src_visual_dynamic_model/main.py extract` for this split first")
    arrays = load_npz(path, RERUN, keys=("frames", "features"))
    frames, features = arrays["frames"], arrays["features"]
    if features.ndim != 2 or frames.shape != (features.shape[0],):
        raise AbawError(f"{path}: frames {list(frames.shape)} and features {list(features.shape)} "
                        f"must be [N] and [N, D]; {RERUN}")
    if frames.size and np.any(np.diff(frames.astype(np.int64)) <= 0):
        raise AbawError(f"{path}: frames are not strictly increasing; the cache is corrupt, {RERUN}")
    return frames.astype(np.int32, copy=False), features
