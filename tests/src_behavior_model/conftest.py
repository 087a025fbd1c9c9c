"""Segments tables made from the tiny synthetic dataset's annotations, and a small stage config.

The description stage would write these tables from videos; here each clip's `mm_last` vector is its
label through a fixed random projection plus noise (so a model can learn something), `mm_mean` is noise
of another width. Clips follow the shared clip rule (`abaw.clips`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from abaw.clips import plan_clips
from abaw.config import DataConfig
from abaw.positions import split_positions
from abaw.tables import make_meta, segments_table, write_table

ROOT = Path(__file__).resolve().parents[2]

SMALL = """
[data]
annotations = "{root}/annotations"
test_template = "{root}/test_template.txt"
output_root = "out"

[input]
segments = "segments"
features = ["mm_last"]

[model]
kind = "mamba"
d_model = 16
head_dim = 8
dropout = 0.0
ridge_skip = true

[model.mamba]
layers = 2
d_state = 4

[model.transformer]
layers = 1
heads = 2
ff_dim = 32

[model.mlp]
layers = 1
ff_dim = 32

[train]
epochs = 2
seq_len = 4
stride = 2
batch_size = 4
log_every = 0
"""


def write_segments(dataset: Path, out: Path, seed: int = 0, noise: float = 0.3) -> Path:
    videos = json.loads((dataset / "dataset.json").read_text())["videos"]
    fps = {name: video["fps"] for name, video in videos.items()}
    data = DataConfig(annotations=dataset / "annotations", test_template=dataset / "test_template.txt")
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(1234).normal(size=(2, 12))
    for split in ("train", "val", "test"):
        pos = split_positions(data, split)
        starts, stops, labels, offsets = [], [], [], [0]
        for i, video in enumerate(map(str, pos.videos)):
            rows = slice(int(pos.offsets[i]), int(pos.offsets[i + 1]))
            n = int(pos.frames[rows].max())
            frame_labels = np.full((n, 2), np.nan, np.float32)
            frame_labels[pos.frames[rows] - 1] = pos.labels[rows]
            plan = plan_clips(n, fps[video])
            start, stop = plan.start, plan.stop
            with warnings.catch_warnings():  # a clip without labelled frames has a NaN label
                warnings.simplefilter("ignore", RuntimeWarning)
                means = [np.nanmean(frame_labels[a:b], axis=0) for a, b in zip(start, stop, strict=True)]
                labels.append(np.stack(means))
            starts.append(start)
            stops.append(stop)
            offsets.append(offsets[-1] + len(start))
        label = np.concatenate(labels).astype(np.float32)
        signal = np.nan_to_num(label) @ mixing
        embeddings = {
            "mm_last": (signal + noise * rng.normal(size=signal.shape)).astype(np.float16),
            "mm_mean": rng.normal(size=(len(label), 5)).astype(np.float16),
        }
        meta = make_meta("segments", split, "behaviour", "src_behavior_description")
        write_table(
            out / f"{split}.npz",
            segments_table(
                pos.videos,
                offsets,
                start=np.concatenate(starts),
                stop=np.concatenate(stops),
                meta=meta,
                embeddings=embeddings,
                label=label,
            ),
        )
    return out


def make_setup(dataset: Path, root: Path) -> Path:
    """Segments under `root/segments` and the small config `root/config.toml`; returns the config path."""
    write_segments(dataset, root / "segments")
    config = root / "config.toml"
    config.write_text(SMALL.format(root=dataset))
    return config


@pytest.fixture(scope="session")
def behaviour_once(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_setup(tiny_dataset, tmp_path_factory.mktemp("behaviour"))


@pytest.fixture
def behaviour(behaviour_once: Path, tmp_path: Path) -> Path:
    """A private copy of the segments and config: the config path."""
    shutil.copytree(behaviour_once.parent, tmp_path / "b")
    return tmp_path / "b" / "config.toml"


DESCRIBER = """
[data]
annotations = "{data}/annotations"
test_template = "{data}/test_template.txt"
cropped_aligned = "{data}/cropped_aligned"
videos = "{data}/videos"
output_root = "{out}"

[sampling]
max_pixels = 2048
max_frames = 4
min_pixels = 1024
workers = 0

[describer]
kind = "tiny"
path = "{out}/describer"
batch_size = 16
max_new_tokens = 2
"""


@pytest.fixture(scope="session")
def described_tiny(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The description stage run on every split of the tiny preset (tiny random describer), through its CLI;
    returns the shared output root whose `src_behavior_description/descriptions` this stage reads."""
    root = tmp_path_factory.mktemp("described")
    config = root / "describe.toml"
    config.write_text(DESCRIBER.format(data=tiny_dataset, out=root / "out"))
    done = subprocess.run(
        [sys.executable, "src_behavior_description/main.py", "describe", "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "out"
