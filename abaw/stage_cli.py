"""What every stage's `main.py` shares: `--config`/`--set`, `--checkpoint`, a run's folder, and the
`train`/`export`/`predict` subcommands of a stage that trains a model."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from abaw.cli import add_command, run_command
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
    for line in result.get("smoothing_report", ()):  # stages that smooth their export say how
        print(line.removeprefix("- "))


def print_prediction(result: dict, split: str | None) -> None:
    if "submission" in result:
        print(f"submission (validated): {result['submission']} ({result['frames']} rows)")
    if "predictions" in result:
        print(f"per-video predictions: {result['predictions']}")
    if "score" in result:
        print(f"{split}: score {result['score']:.4f} (valence {result['ccc_valence']:.4f}, "
              f"arousal {result['ccc_arousal']:.4f})")


def add_model_commands(sub, model: str, train: Callable, export: Callable, predict: Callable,
                       splits: tuple[str, ...]) -> None:
    """The `train`, `export` and `predict` subcommands of a stage that trains `model` (a description)."""
    p = add_command(sub, "train", f"train {model}", train)
    config_options(p, config_required=False)
    p.add_argument("--resume", type=Path, help="a run directory to continue from its last.pt")
    p = add_command(sub, "export", "frames tables, per-video TXT and the test submission", export)
    config_options(p)
    checkpoint_option(p)
    p.add_argument("--out", type=Path, help="output folder (default: <run>/export)")
    p = add_command(sub, "predict", "predictions for a template or a labelled split", predict)
    config_options(p)
    checkpoint_option(p)
    p.add_argument("--template", type=Path, help="test template: write a flat submission")
    p.add_argument("--split", choices=splits, help="a split: per-video TXT (+ score if labelled)")
    p.add_argument("--out", type=Path, help="submission file or TXT folder (default: under <run>/predict)")


def stage_main(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse and run one subcommand (`abaw.cli.run_command`: one `error: ...` line and exit 1 on a user
    mistake)."""
    args = parser.parse_args(argv)
    if args.command == "train" and args.config is None and args.resume is None:
        print("error: train needs --config FILE (or --resume RUN_DIR)", file=sys.stderr)
        return 2
    return run_command(args.func, args)


def train_command(args: argparse.Namespace, load: Callable[[Path, list[str]], Any],
                  run_train: Callable[[Any, Any], dict]) -> dict:
    """`train`, or with `--resume RUN_DIR` the continuation of that run under its own config; prints
    the run and its best validation score. Ranks other than 0 return {} and print nothing."""
    from abaw.distributed import init_distributed
    from abaw.runs import open_run

    if args.resume is not None:
        cfg = load(Path(args.resume) / "config.toml", args.set)
        init_distributed(cfg.train.device)  # the backend follows train.device; open_run would assume "auto"
        run = open_run(args.resume)
    else:
        cfg, run = load(args.config, args.set), None
    result = run_train(cfg, run)
    if "val_score" not in result:
        return {}
    print_run_score(result)
    return {k: v for k, v in result.items() if k != "best_metrics"}


def print_run_score(result: dict) -> None:
    """The run folder and its best epoch's validation score."""
    print(f"run: {result['run_dir']}")
    print(f"best epoch {result['best_epoch']}: validation score {result['val_score']:.4f} "
          f"(valence {result['val_ccc_valence']:.4f}, arousal {result['val_ccc_arousal']:.4f})")


def load_trained(args: argparse.Namespace, load: Callable[[Path, list[str]], Any],
                 resolve: Callable[[Any, Path | None], tuple[Path, str]],
                 build: Callable[[Any, Path], Any]) -> tuple[Any, Path, Any]:
    """(config, checkpoint path, model) for `--config` and `--checkpoint` (`resolve` finds the file)."""
    from abaw.runs import setup_logging

    cfg = load(args.config, args.set)
    setup_logging()
    path, which = resolve(cfg, args.checkpoint)
    print(f"using {which}")
    return cfg, path, build(cfg, path)


def export_command(args: argparse.Namespace, trained: Callable[[argparse.Namespace], tuple[Any, Path, Any]],
                   export: Callable[[Any, Any, Path, Path], dict]) -> dict:
    """`export` of the trained model into `--out`, else `export.out`, else `<run>/export`."""
    cfg, path, model = trained(args)
    out = args.out or cfg.export.out or run_dir_of(path) / "export"
    result = export(cfg, model, path, out)
    print_export(result, cfg.export.splits, out)
    return result


def predict_command(args: argparse.Namespace, trained: Callable[[argparse.Namespace], tuple[Any, Path, Any]],
                    predict: Callable[..., dict]) -> dict:
    """`predict` for `--template` (a flat submission) or `--split` (per-video TXT, scored if labelled)."""
    check_predict_args(args)
    cfg, path, model = trained(args)
    result = predict(cfg, model, predict_out(args, path), template=args.template, split=args.split)
    print_prediction(result, args.split)
    return result
