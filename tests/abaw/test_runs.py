import dataclasses
import logging
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from abaw.config import DataConfig, load_config
from abaw.errors import AbawError
from abaw.runs import create_run, open_run, seed_everything, setup_logging


@dataclasses.dataclass(frozen=True)
class StageConfig:
    name: str = "baseline"
    lr: float = 0.001
    data: DataConfig = DataConfig()


CFG = StageConfig()

@pytest.fixture(autouse=True)
def _close_log_files():
    yield
    setup_logging(None)


def test_run_directory_layout_and_saved_config(tmp_path):
    (tmp_path / "cfg.toml").write_text('name = "tiny"\n[data]\noutput_root = "outs"\n')
    cfg = load_config(StageConfig, tmp_path / "cfg.toml")
    run = create_run(cfg.data.output_root, "face", cfg.name, cfg)
    assert run.dir.parent == tmp_path / "outs" / "face"
    assert re.fullmatch(r"tiny-\d{8}-\d{6}-[0-9a-f]{4}", run.dir.name)
    assert load_config(StageConfig, run.config_path) == cfg  # the saved config is the resolved one
    assert run.best_checkpoint == run.dir / "checkpoints" / "best.pt"


def test_runs_started_together_get_separate_directories(tmp_path):
    dirs = {create_run(tmp_path, "face", "same", CFG).dir for _ in range(5)}
    assert len(dirs) == 5


def test_logs_reach_console_and_log_file(tmp_path, capsys):
    run = create_run(tmp_path, "face", "logged", CFG)
    logging.getLogger("abaw.face").info("hello %d", 42)
    logging.getLogger("abaw.face").debug("not at INFO")
    text = run.log_path.read_text()
    assert "INFO abaw.face: hello 42" in text
    assert "not at INFO" not in text
    assert "hello 42" in capsys.readouterr().err


def test_reopened_run_appends_to_its_log(tmp_path):
    run = create_run(tmp_path, "face", "again", CFG)
    logging.getLogger("abaw").info("first")
    assert open_run(run.dir) == run
    logging.getLogger("abaw").info("second")
    lines = run.log_path.read_text().splitlines()
    assert sum("first" in line for line in lines) == 1  # one file handler at a time
    assert sum("second" in line for line in lines) == 1


def test_bad_names_and_folders_are_user_errors(tmp_path):
    with pytest.raises(AbawError, match="run name 'a/b'"):
        create_run(tmp_path, "face", "a/b", CFG)
    with pytest.raises(AbawError, match="not a run directory"):
        open_run(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(AbawError, match="cannot create the run directory"):
        create_run(blocker, "face", "x", CFG)


def test_seed_everything_makes_every_generator_repeat():
    def draw() -> tuple:
        return random.random(), np.random.rand(), torch.rand(1).item()  # noqa: NPY002

    seed_everything(7)
    first = draw()
    seed_everything(7)
    assert draw() == first
    seed_everything(8)
    assert draw() != first


def test_run_paths_are_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = create_run(Path("rel"), "face", "x", CFG)
    assert run.dir.is_absolute() and run.dir.parent == tmp_path / "rel" / "face"
    assert open_run(Path("rel") / "face" / run.dir.name) == run
