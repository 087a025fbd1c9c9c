"""The tiny synthetic dataset with a stage config and a tiny describer, loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY = """
[data]
annotations = "{data}/annotations"
test_template = "{data}/test_template.txt"
cropped_aligned = "{data}/cropped_aligned"
videos = "{data}/videos"
output_root = "{out}"

[sampling]
max_pixels = 2048
max_frames = 8
min_pixels = 1024
workers = 0

[describer]
kind = "tiny"
path = "{model}"
batch_size = 8
max_new_tokens = 3
dtype = "float32"  # the tests compare vectors across batchings: float32 on a GPU too, not bfloat16
"""


def write_config(folder: Path, dataset: Path, model: Path, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "behaviour.toml"
    path.write_text(TINY.format(data=dataset, out=folder / "out", model=model) + extra)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("describer") / "tiny"


@pytest.fixture(scope="session")
def describer(tiny_dataset, tiny_model, tmp_path_factory):
    from src_behavior_description import config as stage_config
    from src_behavior_description.describer import Describer

    path = write_config(tmp_path_factory.mktemp("load"), tiny_dataset, tiny_model)
    return Describer.load(stage_config.load(path).describer)


@pytest.fixture
def config_file(tiny_dataset, tiny_model, tmp_path):
    """config_file(extra_toml="", name="run") -> a config file with a fresh output folder."""

    def make(extra: str = "", name: str = "run") -> Path:
        return write_config(tmp_path / name, tiny_dataset, tiny_model, extra)

    return make


@pytest.fixture
def make_cfg(config_file):
    """make_cfg(extra_toml="", name="run") -> the loaded config of a fresh output folder."""
    from src_behavior_description import config as stage_config

    return lambda extra="", name="run": stage_config.load(config_file(extra, name))


@pytest.fixture(scope="session")
def described(tiny_dataset, tiny_model, describer, tmp_path_factory):
    """Every split of the tiny preset described once: (config, {split: counts})."""
    from src_behavior_description import config as stage_config
    from src_behavior_description.describe import describe_split, prepare_split

    cfg = stage_config.load(write_config(tmp_path_factory.mktemp("described"), tiny_dataset, tiny_model))
    return cfg, {split: describe_split(cfg, describer, prepare_split(cfg, split))
                  for split in stage_config.SPLITS}
