"""Options and paths every stage's `main.py` shares: `--config`/`--set`, `--checkpoint`, a run's folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from abaw.errors import AbawError


def config_options(parser: argparse.ArgumentParser, config_required: bool = True) -> None:
    parser.add_argument("--config", type=Path, required=config_required, help="stage config (TOML)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set train.epochs=2 (repeatable)")


def checkpoint_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path,
                        help="checkpoint file, run directory, or 'best' (the best-scoring complete run of "
                             "train.name); default: the newest complete run of train.name")


def run_dir_of(checkpoint: Path) -> Path:
    """The run directory holding `checkpoints/<file>.pt`, else the checkpoint's folder."""
    parent = checkpoint.parent
    return parent.parent if parent.name == "checkpoints" else parent


def check_predict_args(args: argparse.Namespace) -> None:
    """`predict` takes exactly one of --template and --split; checked before any model is loaded."""
    if (args.template is None) == (args.split is None):
        raise AbawError("predict: give exactly one of --template FILE (flat submission) or --split NAME")


def predict_out(args: argparse.Namespace, checkpoint: Path) -> Path:
    """Where `predict` writes: `--out`, else under `<run>/predict`."""
    name = "submission.txt" if args.template else args.split
    return args.out or run_dir_of(checkpoint) / "predict" / name


def print_export(result: dict, splits: tuple[str, ...], out: Path) -> None:
    """The export summary: rows and score per split, the submission, the smoothing."""
    for split in splits:
        score = f" (official score {result[f'{split}_score']:.4f})" if f"{split}_score" in result else ""
        print(f"{split}: {result[f'{split}_rows']} frames -> {out / (split + '.npz')}{score}")
    if "submission" in result:
        print(f"test submission (validated): {result['submission']}")
    for line in result["smoothing_report"]:
        print(line.removeprefix("- "))


def print_prediction(result: dict, split: str | None) -> None:
    if "submission" in result:
        print(f"submission (validated): {result['submission']} ({result['frames']} rows)")
    if "predictions" in result:
        print(f"per-video predictions: {result['predictions']}")
    if "score" in result:
        print(f"{split}: score {result['score']:.4f} (valence {result['ccc_valence']:.4f}, "
              f"arousal {result['ccc_arousal']:.4f})")
