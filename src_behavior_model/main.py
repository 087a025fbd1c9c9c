"""Behaviour stream CLI: `python src_behavior_model/main.py COMMAND --config FILE [--set KEY=VALUE]`.

Commands: train, export, predict, search.

Runs from the repository root or from inside this folder, and under `torchrun` for `train`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Imports are package-qualified (`src_behavior_model.x`): the repository root must be importable and this
# folder must not be on sys.path, so that module names like `config` or `data` never shadow other packages.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from abaw.cli import add_command  # noqa: E402
from abaw.stage_cli import (  # noqa: E402
    add_model_commands,
    check_predict_args,
    config_options,
    predict_out,
    print_export,
    print_prediction,
    run_dir_of,
    stage_main,
)
from src_behavior_model import config as stage_config  # noqa: E402

SUMMARY_COLUMNS = ("val_ccc_valence", "val_ccc_arousal", "ridge_score", "best_epoch", "run_dir")


def setup_console() -> None:
    from abaw.runs import setup_logging

    setup_logging()


def print_scores(result: dict) -> None:
    print(f"run: {result['run_dir']}")
    print(
        f"best epoch {result['best_epoch']}: frame-level validation score {result['val_score']:.4f} "
        f"(valence {result['val_ccc_valence']:.4f}, arousal {result['val_ccc_arousal']:.4f})"
    )
    if "ridge_score" in result:
        print(
            f"clip-wise ridge on the same vectors: {result['ridge_score']:.4f} (penalty "
            f"{result['ridge_penalty']:g} chosen on held-out train videos); "
            f"sequence model gain {result['gain_over_ridge']:+.4f}"
        )


def cmd_train(args: argparse.Namespace) -> dict:
    from abaw.runs import open_run
    from src_behavior_model.train import run_train

    if args.resume is not None:
        run = open_run(args.resume)
        cfg = stage_config.load(run.config_path, args.set)
    else:
        cfg, run = stage_config.load(args.config, args.set), None
    result = run_train(cfg, run)
    if "val_score" not in result:  # ranks other than 0 print nothing
        return {}
    print_scores(result)
    return {k: v for k, v in result.items() if k != "best_metrics"}


def trained(args: argparse.Namespace):
    from src_behavior_model.trained import load_trained, resolve_checkpoint

    cfg = stage_config.load(args.config, args.set)
    setup_console()
    path, which = resolve_checkpoint(cfg, args.checkpoint)
    print(f"using {which}")
    return cfg, path, load_trained(cfg, path)


def cmd_export(args: argparse.Namespace) -> dict:
    from src_behavior_model.export import export

    cfg, path, model = trained(args)
    out = args.out or cfg.export.out or run_dir_of(path) / "export"
    result = export(cfg, model, path, out)
    print_export(result, cfg.export.splits, out)
    return result


def cmd_predict(args: argparse.Namespace) -> dict:
    from src_behavior_model.predict import predict

    check_predict_args(args)
    cfg, path, model = trained(args)
    result = predict(cfg, model, predict_out(args, path), template=args.template, split=args.split)
    print_prediction(result, args.split)
    return result


def cmd_search(args: argparse.Namespace) -> dict:
    from abaw.search import read_space, run_search
    from src_behavior_model.train import STAGE, run_train

    base = stage_config.load(args.config, args.set)
    space = read_space(args.space)
    out = args.out or base.data.output_root / STAGE / f"search-{args.space.stem}"

    def load(overrides: list[str]) -> stage_config.BehaviourConfig:
        return stage_config.load(args.config, [*args.set, *overrides])

    def train(overrides: list[str]) -> dict:
        result = run_train(load(overrides))
        print_scores(result)
        return result

    setup_console()
    result = run_search(space, out, train, load, metric="val_score", columns=SUMMARY_COLUMNS)
    print(f"search: {result['trials']} trials in {result['csv']}")
    print(
        f"best trial {result['best_trial']}: validation score {result['best_val_score']:.4f} with "
        f"{' '.join(f'{k}={v}' for k, v in result['best_params'].items())}"
    )
    print(f"best config: {result['best_config']}")
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="src_behavior_model/main.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_model_commands(sub, "the clip sequence model on the segments tables", cmd_train, cmd_export,
                       cmd_predict, stage_config.SPLITS)
    p = add_command(
        sub, "search", "grid or random search over config keys, one training run per trial", cmd_search
    )
    config_options(p)
    p.add_argument(
        "--space",
        type=Path,
        required=True,
        help="search space TOML: key = [values] per searched key, optional trials = N (random)",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="folder of search.csv and best.toml (default: <output_root>/src_behavior_model/"
        "search-<space name>); rerun with the same folder to resume",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    return stage_main(build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
