"""Face stream CLI: `python src_visual_dynamic_model/main.py COMMAND --config FILE [--set KEY=VALUE]`.

Commands: extract, train, export, predict, explain.

Runs from the repository root or from inside this folder, and under `torchrun` for `train`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Imports are package-qualified (`src_visual_dynamic_model.x`), so the repository root is what must be
# importable; the script's own folder is taken off sys.path so that module names like `config` or
# `data` can never shadow other packages.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from abaw.cli import add_command, run_command  # noqa: E402
from abaw.errors import AbawError  # noqa: E402
from abaw.stage_cli import (  # noqa: E402
    check_predict_args,
    checkpoint_option,
    config_options,
    predict_out,
    print_export,
    print_prediction,
    run_dir_of,
)
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
    from abaw.distributed import init_distributed
    from abaw.runs import open_run
    from src_visual_dynamic_model.train import run_train

    if args.resume is not None:
        cfg = stage_config.load(Path(args.resume) / "config.toml", args.set)
        init_distributed(cfg.train.device)  # the backend follows train.device; open_run would assume "auto"
        run = open_run(args.resume)
    else:
        cfg, run = load_cfg(args), None
    result = run_train(cfg, run)
    if "val_score" not in result:  # ranks other than 0 print nothing
        return {}
    print(f"run: {result['run_dir']}")
    print(f"best epoch {result['best_epoch']}: validation score {result['val_score']:.4f} "
          f"(valence {result['val_ccc_valence']:.4f}, arousal {result['val_ccc_arousal']:.4f})")
    if "ridge_score" in result:
        print(f"frame-wise ridge on the same features: {result['ridge_score']:.4f}; "
              f"temporal model gain {result['gain_over_ridge']:+.4f}")
    return {k: v for k, v in result.items() if k != "best_metrics"}


def trained(args: argparse.Namespace):
    from src_visual_dynamic_model.trained import load_trained, resolve_checkpoint

    cfg = load_cfg(args)
    setup_console()
    path, which = resolve_checkpoint(cfg, args.checkpoint)
    print(f"using {which}")
    return cfg, path, load_trained(cfg, path)


def cmd_export(args: argparse.Namespace) -> dict:
    from src_visual_dynamic_model.export import export

    cfg, path, model = trained(args)
    out = args.out or cfg.export.out or run_dir_of(path) / "export"
    result = export(cfg, model, path, out)
    print_export(result, cfg.export.splits, out)
    return result


def cmd_predict(args: argparse.Namespace) -> dict:
    from src_visual_dynamic_model.predict import predict

    check_predict_args(args)
    cfg, path, model = trained(args)
    result = predict(cfg, model, predict_out(args, path), template=args.template, split=args.split)
    print_prediction(result, args.split)
    return result


def cmd_explain(args: argparse.Namespace) -> dict:
    from src_visual_dynamic_model.explain import explain

    cfg, path, model = trained(args)
    out = args.out or run_dir_of(path) / "explain"
    result = explain(cfg, model, args.split, args.video, args.frame, out, top=args.top)
    print(f"temporal importance: {result['csv']}")
    print(f"strip{' with Grad-CAM' if result['gradcam'] else ''}: {result['png']}")
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="src_visual_dynamic_model/main.py",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = add_command(sub, "extract", "face crops -> per-video feature caches", cmd_extract)
    config_options(p)
    p.add_argument("--split", action="append", choices=stage_config.SPLITS,
                   help="only this split (repeatable)")
    p.add_argument("--shard", default="0/1", help="I/N: extract only every N-th video starting at I")
    p = add_command(sub, "train", "train the temporal model on the cached features", cmd_train)
    config_options(p, config_required=False)
    p.add_argument("--resume", type=Path, help="a run directory to continue from its last.pt")
    p = add_command(sub, "export", "frames tables, per-video TXT and the test submission", cmd_export)
    config_options(p)
    checkpoint_option(p)
    p.add_argument("--out", type=Path, help="output folder (default: <run>/export)")
    p = add_command(sub, "predict", "predictions for a template or a labelled split", cmd_predict)
    config_options(p)
    checkpoint_option(p)
    p.add_argument("--template", type=Path, help="test template: write a flat submission")
    p.add_argument("--split", choices=stage_config.SPLITS,
                   help="a split: per-video TXT (+ score if labelled)")
    p.add_argument("--out", type=Path, help="submission file or TXT folder (default: under <run>/predict)")
    p = add_command(sub, "explain", "temporal importance and Grad-CAM for one frame", cmd_explain)
    config_options(p)
    checkpoint_option(p)
    p.add_argument("--video", required=True, help="video id")
    p.add_argument("--frame", type=int, required=True, help="1-based frame number")
    p.add_argument("--split", default="val", choices=stage_config.SPLITS, help="split holding the video")
    p.add_argument("--top", type=int, default=8, help="how many of the most important crops to show")
    p.add_argument("--out", type=Path, help="output folder (default: <run>/explain)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train" and args.config is None and args.resume is None:
        print("error: train needs --config FILE (or --resume RUN_DIR)", file=sys.stderr)
        return 2
    return run_command(args.func, args)


if __name__ == "__main__":
    raise SystemExit(main())
