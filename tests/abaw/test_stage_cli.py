import argparse
from pathlib import Path

import pytest

from abaw.errors import AbawError
from abaw.stage_cli import check_predict_args, checkpoint_option, config_options, predict_out, run_dir_of


def test_options_parse_config_set_and_checkpoint():
    parser = argparse.ArgumentParser()
    config_options(parser)
    checkpoint_option(parser)
    args = parser.parse_args(["--config", "a.toml", "--set", "train.epochs=2", "--set", "x.y=1",
                              "--checkpoint", "best"])
    assert args.config == Path("a.toml") and args.set == ["train.epochs=2", "x.y=1"]
    assert str(args.checkpoint) == "best"


def test_run_dir_and_predict_out():
    ckpt = Path("/runs/r1/checkpoints/best.pt")
    assert run_dir_of(ckpt) == Path("/runs/r1") and run_dir_of(Path("/x/model.pt")) == Path("/x")
    args = argparse.Namespace(template=None, split="val", out=None)
    assert predict_out(args, ckpt) == Path("/runs/r1/predict/val")
    args = argparse.Namespace(template=Path("t.txt"), split=None, out=None)
    assert predict_out(args, ckpt) == Path("/runs/r1/predict/submission.txt")
    with pytest.raises(AbawError, match="exactly one of --template"):
        check_predict_args(argparse.Namespace(template=Path("t.txt"), split="val", out=None))
