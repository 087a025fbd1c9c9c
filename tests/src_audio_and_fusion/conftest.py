"""Shared fixtures of the audio stage tests: a tiny WavLM folder and a stage config on the tiny dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from src_audio_and_fusion.config import AudioConfig

TINY_AUDIO = AudioConfig(kind="tiny", hidden=32, layers=1, heads=2, conv_dim=16, conv_bias=True,
                         pool_hidden=16,
                         head_dim=16)

STAGE_TOML = """
[data]
annotations = "{root}/annotations"
test_template = "{root}/test_template.txt"
cropped_aligned = "{root}/cropped_aligned"
videos = "{root}/videos"
output_root = "out"

[extract_audio]
workers = 2

[reliability]
openmouth = "{root}/openmouth"

[audio]
kind = "tiny"
path = "out/tiny_wavlm"
normalise = "global"
trainable_layers = -1
pool_hidden = 16
head_dim = 16
hidden = 32
layers = 1
heads = 2
conv_dim = 16
conv_bias = true

[train_audio]
epochs = 1
batch_size = 8
eval_batch_size = 16
num_workers = 0
log_every = 0
ridge_baseline = false
"""


@pytest.fixture(scope="session")
def tiny_wavlm(tmp_path_factory) -> AudioConfig:
    """The tiny WavLM built once into a folder: its [audio] config (kind tiny, path set)."""
    from dataclasses import replace

    from src_audio_and_fusion.model import ensure_tiny

    cfg = replace(TINY_AUDIO, path=tmp_path_factory.mktemp("wavlm") / "tiny")
    ensure_tiny(cfg)
    return cfg


def _write_stage_config(folder: Path, dataset: Path, extra: str = "") -> Path:
    path = folder / "audio.toml"
    path.write_text(STAGE_TOML.format(root=dataset) + extra)
    return path


@pytest.fixture
def write_config():
    """`write_config(folder, dataset, extra="")` writes a small stage config reading `dataset`."""
    return _write_stage_config
