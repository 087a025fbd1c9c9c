"""A few-video dataset with three modality `frames` tables made from the labels plus noise.

face: 6-d embeddings with a boolean `face` column (False on a few frames); behaviour: 4-d embeddings on
every other frame only (the rest are filled from the nearest frame and flagged invalid); audio:
predictions only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from abaw.config import DataConfig
from abaw.positions import split_positions
from abaw.tables import frames_table, make_meta, write_table

TRAIN = {"tr_a": 40, "tr_b": 33, "tr_c": 25}
VAL = {"va_a": 30, "va_b": 21}
TEST = {"te_a": 18, "te_b": 11}

CONFIG = """
[data]
annotations = "annotations"
test_template = "test_template.txt"
output_root = "out"

[modalities.face]
frames = "face"
input = "both"

[modalities.behaviour]
frames = "behaviour"
input = "embedding"
{audio}
[model]
experts = {experts}
hidden = 16
layers = 1
heads = 2
ff_dim = 32
gate_hidden = 8
head_dim = 8

[train]
epochs = 2
lr = 1e-3
window = 8
hop_length = 4
batch_size = 4
eval_batch_size = 8
log_every = 0
"""

AUDIO = """
[modalities.audio]
frames = "audio"
input = "prediction"
"""


def trajectory(n: int, seed: int) -> np.ndarray:
    t = np.arange(n) / 6.0
    return np.stack([0.8 * np.sin(t + seed), 0.6 * np.cos(0.7 * t + seed)], axis=1).astype(np.float32)


def write_dataset(root: Path) -> None:
    """Annotations of train and val (the true VA) and the test template."""
    ann = root / "annotations"
    template = ["image_location,valence,arousal"]
    sets = (("Train_Set", TRAIN), ("Validation_Set", VAL), ("Test_Set", TEST))
    for seed, (folder, videos) in enumerate(sets):
        for k, (video, n) in enumerate(videos.items()):
            if folder == "Test_Set":
                template += [f"{video}/{f:05d}.jpg,0,0" for f in range(1, n + 1)]
                continue
            va = trajectory(n, seed * 10 + k)
            (ann / folder).mkdir(parents=True, exist_ok=True)
            lines = ["valence,arousal"] + [f"{v:.4f},{a:.4f}" for v, a in va]
            (ann / folder / f"{video}.txt").write_text("\n".join(lines) + "\n")
    (root / "test_template.txt").write_text("\n".join(template) + "\n")


def write_modalities(root: Path) -> None:
    data = DataConfig(annotations=root / "annotations", test_template=root / "test_template.txt")
    rng = np.random.default_rng(0)
    for seed, split in enumerate(("train", "val", "test")):
        pos = split_positions(data, split)
        lengths = np.diff(pos.offsets)
        truth = np.concatenate([trajectory(int(n), seed * 10 + k) for k, n in enumerate(lengths)])
        n = len(truth)
        face_emb = np.concatenate([truth, rng.normal(size=(n, 4))], axis=1) + 0.3 * rng.normal(size=(n, 6))
        face = np.ones(n, bool)
        face[::9] = False
        write_table(root / "face" / f"{split}.npz", frames_table(
            pos.videos, pos.offsets, frame=pos.frames, embedding=face_emb.astype(np.float32),
            prediction=np.clip(truth + 0.2 * rng.normal(size=(n, 2)), -1, 1), face=face,
            meta=make_meta("frames", split, "visual", "test")))
        keep = pos.frames % 2 == 1  # behaviour has odd frames only
        counts = np.add.reduceat(keep, pos.offsets[:-1]) if n else np.zeros(0, int)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        beh = np.concatenate([truth, rng.normal(size=(n, 2))], axis=1) + 0.3 * rng.normal(size=(n, 4))
        write_table(root / "behaviour" / f"{split}.npz", frames_table(
            pos.videos, offsets, frame=pos.frames[keep], embedding=beh[keep].astype(np.float32),
            meta=make_meta("frames", split, "behaviour", "test")))
        write_table(root / "audio" / f"{split}.npz", frames_table(
            pos.videos, pos.offsets, frame=pos.frames,
            prediction=np.clip(truth + 0.4 * rng.normal(size=(n, 2)), -1, 1).astype(np.float32),
            meta=make_meta("frames", split, "audio", "test")))


def make_fusion(root: Path, audio: bool = False, experts: str | None = None) -> Path:
    write_dataset(root)
    write_modalities(root)
    if experts is None:
        experts = ('["face<-behaviour", "face<-face", "behaviour<-face", "face<-audio"]' if audio
                   else '["face<-behaviour", "face<-face", "behaviour<-face"]')
    path = root / "config.toml"
    path.write_text(CONFIG.format(audio=AUDIO if audio else "", experts=experts))
    return path


@pytest.fixture
def fusion(tmp_path: Path) -> Path:
    return make_fusion(tmp_path)
