"""A few-video Aff-Wild2-shaped dataset with crops, plus a small stage config, for the unit tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

# video -> (frames, frames without a crop); "tr_noface" has no crops at all.
TRAIN = {"tr_a": (30, (5, 6, 7)), "tr_b": (25, ()), "tr_noface": (12, None)}
VAL = {"va_a": (20, (1, 2)), "va_b": (15, (15,))}
TEST = {"te_a": (18, ()), "te_b": (10, (10,))}

SMALL = """
[data]
annotations = "annotations"
test_template = "test_template.txt"
cropped_aligned = "cropped_aligned"
videos = "videos"
output_root = "out"

[backbone]
kind = "tiny"
dim = 16

[extract]
features = "features"
batch_size = 16
workers = 0

[model]
hidden = 16
layers = 1
heads = 2
ff_dim = 32
head_dim = 8

[train]
epochs = 2
window = 8
hop_length = 4
batch_size = 4
eval_batch_size = 8
log_every = 0
"""


def trajectory(n: int, seed: int) -> np.ndarray:
    t = np.arange(n) / 10.0
    return np.stack([0.8 * np.sin(t + seed), 0.6 * np.cos(0.7 * t + seed)], axis=1).astype(np.float32)


def write_crop(path: Path, va: np.ndarray) -> None:
    image = np.full((112, 112, 3), 60, np.uint8)
    cv2.circle(image, (56, 56), 40, (int(128 + 100 * va[0]), 120, int(128 + 100 * va[1])), -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)


def make_mini(root: Path) -> Path:
    """Write the dataset and `root/config.toml`; returns the config path."""
    ann = root / "annotations"
    template = ["image_location,valence,arousal"]
    sets = (("Train_Set", TRAIN), ("Validation_Set", VAL), ("Test_Set", TEST))
    for seed, (split_dir, videos) in enumerate(sets):
        for k, (video, (n, gaps)) in enumerate(videos.items()):
            va = trajectory(n, seed * 10 + k)
            if split_dir == "Test_Set":
                template += [f"{video}/{f:05d}.jpg,0,0" for f in range(1, n + 1)]
            else:
                (ann / split_dir).mkdir(parents=True, exist_ok=True)
                values = va.copy()
                values[0] = -5  # an unlabelled first frame
                lines = ["valence,arousal"] + [f"{v:.4f},{a:.4f}" for v, a in values]
                (ann / split_dir / f"{video}.txt").write_text("\n".join(lines) + "\n")
            if gaps is None:
                continue
            for f in range(1, n + 1):
                if f not in gaps:
                    write_crop(root / "cropped_aligned" / video / f"{f:05d}.jpg", va[f - 1])
    (root / "test_template.txt").write_text("\n".join(template) + "\n")
    (root / "videos").mkdir(exist_ok=True)
    config = root / "config.toml"
    config.write_text(SMALL)
    return config


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    return make_mini(tmp_path)


@pytest.fixture(scope="session")
def extracted_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mini dataset with the caches of every split, extracted once per session."""
    from src_visual_dynamic_model import config as stage_config
    from src_visual_dynamic_model.extract import extract

    path = make_mini(tmp_path_factory.mktemp("extracted"))
    extract(stage_config.load(path), stage_config.SPLITS)
    return path


@pytest.fixture
def extracted(extracted_once: Path, tmp_path: Path):
    """A private copy of the extracted mini dataset: its loaded config."""
    from src_visual_dynamic_model import config as stage_config

    shutil.copytree(extracted_once.parent, tmp_path / "mini")
    return stage_config.load(tmp_path / "mini" / "config.toml")


@pytest.fixture(scope="session")
def trained_mini(tmp_path_factory: pytest.TempPathFactory):
    """The mini dataset extracted and trained once (2 epochs): (config path, config, checkpoint path)."""
    from src_visual_dynamic_model import config as stage_config
    from src_visual_dynamic_model.extract import extract
    from src_visual_dynamic_model.train import run_train

    path = make_mini(tmp_path_factory.mktemp("trained"))
    cfg = stage_config.load(path)
    extract(cfg, stage_config.SPLITS)
    summary = run_train(cfg)
    return path, cfg, Path(summary["best_checkpoint"])
