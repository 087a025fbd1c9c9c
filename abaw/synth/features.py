"""Per-video feature caches `features/<split>/<video>.npz` (`frames` int32 [N], `features` float32 [N, D]).

They stand in for extracted face embeddings in benchmarks and stage tests: one row per frame with a face,
a fixed random projection of the true valence/arousal plus a per-person offset and unit noise, so a
model trained on them has something to learn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from abaw.atomic import save_npz
from abaw.errors import AbawError
from abaw.synth.plan import rng
from abaw.synth.trajectories import Track

FEATURES = {"signal": "[valence, arousal] @ basis (2 x D, unit normal)", "person_offset_sd": 0.5,
            "noise_sd": 1.0, "rows": "frames with a face"}


def check_dim(dim: int | None) -> int | None:
    if dim is not None and not 1 <= dim <= 4096:
        raise AbawError(f"--features {dim}: the feature size must be between 1 and 4096")
    return dim


def feature_cache(seed: int, video: str, track: Track, dim: int) -> dict[str, np.ndarray]:
    basis = rng(seed, "features", "basis").standard_normal((2, dim), dtype=np.float32)
    r = rng(seed, video, "features")
    frames = np.flatnonzero(track.face)
    truth = np.stack([track.valence[frames], track.arousal[frames]], axis=1)
    features = truth @ basis + r.normal(0, FEATURES["person_offset_sd"], dim).astype(np.float32)
    features += FEATURES["noise_sd"] * r.standard_normal((len(frames), dim), dtype=np.float32)
    return {"frames": (frames + 1).astype(np.int32), "features": features.astype(np.float32)}


def write_features(root: Path, split: str, video: str, track: Track, dim: int, seed: int) -> Path:
    return save_npz(root / "features" / split / f"{video}.npz", feature_cache(seed, video, track, dim))
