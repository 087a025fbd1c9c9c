"""Face stream CLI: `python src_visual_dynamic_model/main.py COMMAND --config FILE [--set KEY=VALUE]`.

Commands: extract, train, export, predict, explain.

Runs from the repository root or from inside this folder, and under `torchrun` for `train`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Imports are package-qualified (`src_visual_dynamic_model.x`), so the repository root is what must be
# importable; the script's own folder is taken off sys.path so that module names like `config` or
# `data` can never shadow other packages.
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

from abaw import stage_cli  # noqa: E402
from abaw.cli import add_command  # noqa: E402
from abaw.errors import AbawError  # noqa: E402
from src_visual_dynamic_model import config as stage_config  # noqa: E402


def load_cfg(args: argparse.Namespace) -> stage_config.VisualConfig:
    return stage_config.load(args.config, args.set)


def setup_console() -> None:
    from abaw.runs import setup_logging

    setup_logging()


def cmd_extract(args: argparse.Namespace) -> dict:
    from abaw.manifest import parse_shard
    from src_visual_dynamic_model.extract import extract

    cfg = load_cfg(args)
    setup_console()
    splits = tuple(args.split) if args.split else cfg.extract.splits
    unknown = sorted(set(splits) - set(stage_config.SPLITS))
    if unknown:
        raise AbawError(f"--split {unknown}: valid splits are {', '.join(stage_config.SPLITS)}")
    result = extract(cfg, splits, parse_shard(args.shard))
    for split, counts in result.items():
        print(f"{split}: {counts['videos']} videos ({counts['extracted']} extracted, "
              f"{counts['reused']} reused), "
              f"{counts['crops']} crops encoded, {counts['no_crops']} without crops, "
              f"{counts['unreadable']} unreadable")
        if counts["errors"]:
            print(f"  crops that could not be decoded are listed in {counts['errors']}; first: "
                  + ", ".join(counts["unreadable_crops"]))
    print(f"features: {stage_config.features_dir(cfg)}")
    return result


def cmd_train(args: argparse.Namespace) -> dict:
    from src_visual_dynamic_model.train import run_train

    result = stage_cli.train_command(args, stage_config.load, run_train)
    if "ridge_score" in result:
        print(f"frame-wise ridge on the same features: {result['ridge_score']:.4f}; "
              f"temporal model gain {result['gain_over_ridge']:+.4f}")
    return result


def trained(args: argparse.Namespace):
    from src_visual_dynamic_model import trained as stage_trained

    return stage_cli.load_trained(args, stage_config.load, stage_trained.resolve_checkpoint,
                                  stage_trained.load_trained)


def cmd_export(args: argparse.Namespace) -> dict:
    from src_visual_dynamic_model.export import export

    return stage_cli.export_command(args, trained, export)


def cmd_predict(args: argparse.Namespace) -> dict:
    from src_visual_dynamic_model.predict import predict

    return stage_cli.predict_command(args, trained, predict)


def cmd_explain(args: argparse.Namespace) -> dict:
    from src_visual_dynamic_model.explain import explain

    cfg, path, model = trained(args)
    out = args.out or stage_cli.run_dir_of(path) / "explain"
    result = explain(cfg, model, args.split, args.video, args.frame, out, top=args.top)
    print(f"temporal importance: {result['csv']}")
    print(f"strip{' with Grad-CAM' if result['gradcam'] else ''}: {result['png']}")
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="src_visual_dynamic_model/main.py",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = add_command(sub, "extract", "face crops -> per-video feature caches", cmd_extract)
    stage_cli.config_options(p)
    p.add_argument("--split", action="append", choices=stage_config.SPLITS,
                   help="only this split (repeatable)")
    p.add_argument("--shard", default="0/1", help="I/N: extract only every N-th video starting at I")
    stage_cli.add_model_commands(sub, "the temporal model on the cached features", cmd_train, cmd_export,
                                 cmd_predict, stage_config.SPLITS)
    p = add_command(sub, "explain", "temporal importance and Grad-CAM for one frame", cmd_explain)
    stage_cli.config_options(p)
    stage_cli.checkpoint_option(p)
    p.add_argument("--video", required=True, help="video id")
    p.add_argument("--frame", type=int, required=True, help="1-based frame number")
    p.add_argument("--split", default="val", choices=stage_config.SPLITS, help="split holding the video")
    p.add_argument("--top", type=int, default=8, help="how many of the most important crops to show")
    p.add_argument("--out", type=Path, help="output folder (default: <run>/explain)")
    return parser


def main(argv: list[str] | None = None) -> int:
    return stage_cli.stage_main(build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
