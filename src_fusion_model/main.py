"""Fusion stage CLI: `python src_fusion_model/main.py COMMAND --config FILE [--set KEY=VALUE]`.

Commands: train, export, predict, search.

Runs from the repository root or from inside this folder, and under `torchrun` for `train`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Imports are package-qualified, so the repository root must be importable and this folder must not be
# (module names like `config` or `data` would shadow other packages).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from abaw.cli import add_command, run_command  # noqa: E402
from abaw.stage_cli import (  # noqa: E402
    check_predict_args,
    checkpoint_option,
    config_options,
    predict_out,
    print_export,
    print_prediction,
    run_dir_of,
)
from src_fusion_model import config as stage_config  # noqa: E402

SUMMARY_COLUMNS = ("val_score", "val_ccc_valence", "val_ccc_arousal", "best_epoch")


def load_cfg(args: argparse.Namespace) -> stage_config.FusionConfig:
    return stage_config.load(args.config, args.set)


def setup_console() -> None:
    from abaw.runs import setup_logging

    setup_logging()


def print_scores(result: dict) -> None:
    print(f"run: {result['run_dir']}")
    print(f"best epoch {result['best_epoch']}: validation score {result['val_score']:.4f} "
          f"(valence {result['val_ccc_valence']:.4f}, arousal {result['val_ccc_arousal']:.4f})")
    gates = {k.removeprefix("gate_"): v for k, v in result.items() if k.startswith("gate_")}
    print("mean gate weight on val: " + ", ".join(f"{k} {v:.3f}" for k, v in gates.items()))


def cmd_train(args: argparse.Namespace) -> dict:
    from abaw.distributed import init_distributed
    from abaw.runs import open_run
    from src_fusion_model.train import run_train

    if args.resume is not None:
        cfg = stage_config.load(Path(args.resume) / "config.toml", args.set)
        init_distributed(cfg.train.device)
        run = open_run(args.resume)
    else:
        cfg, run = load_cfg(args), None
    result = run_train(cfg, run)
    if "val_score" not in result:  # ranks other than 0 print nothing
        return {}
    print_scores(result)
    return {k: v for k, v in result.items() if k != "best_metrics"}


def trained(args: argparse.Namespace):
    from src_fusion_model.trained import load_trained, resolve_checkpoint

    cfg = load_cfg(args)
    setup_console()
    path, which = resolve_checkpoint(cfg, args.checkpoint)
    print(f"using {which}")
    return cfg, path, load_trained(cfg, path)


def cmd_export(args: argparse.Namespace) -> dict:
    from src_fusion_model.export import export

    cfg, path, model = trained(args)
    out = args.out or cfg.export.out or run_dir_of(path) / "export"
    result = export(cfg, model, path, out)
    print_export(result, cfg.export.splits, out)
    if "val_gate" in result:
        print("mean gate weight on val: " + ", ".join(f"{k} {v:.3f}" for k, v in result["val_gate"].items()))
    return result


def cmd_predict(args: argparse.Namespace) -> dict:
    from src_fusion_model.export import predict

    check_predict_args(args)
    cfg, path, model = trained(args)
    result = predict(cfg, model, predict_out(args, path), template=args.template, split=args.split)
    print_prediction(result, args.split)
    return result


def cmd_search(args: argparse.Namespace) -> dict:
    from abaw.search import read_space, run_search
    from src_fusion_model.train import STAGE, run_train

    base = load_cfg(args)
    space = read_space(args.space)
    out = args.out or base.data.output_root / STAGE / f"search-{args.space.stem}"

    def load(overrides: list[str]) -> stage_config.FusionConfig:
        return stage_config.load(args.config, [*args.set, *overrides])

    def train(overrides: list[str]) -> dict:
        result = run_train(load(overrides))
        print_scores(result)
        return result

    setup_console()
    result = run_search(space, out, train, load, metric="val_score", columns=SUMMARY_COLUMNS)
    print(f"search: {result['trials']} trials in {result['csv']}")
    print(f"best config: {result['best_config']}")
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="src_fusion_model/main.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = add_command(sub, "train", "train DCMMOE on the modality frames tables", cmd_train)
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
    p = add_command(sub, "search", "grid or random search over config keys, one training run per trial",
                    cmd_search)
    config_options(p)
    p.add_argument("--space", type=Path, required=True,
                   help="search space TOML: key = [values] per searched key, optional trials = N (random)")
    p.add_argument("--out", type=Path, help="folder of search.csv and best.toml (default: <output_root>/"
                   "src_fusion_model/search-<space name>); rerun with the same folder to resume")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train" and args.config is None and args.resume is None:
        print("error: train needs --config FILE (or --resume RUN_DIR)", file=sys.stderr)
        return 2
    return run_command(args.func, args)


if __name__ == "__main__":
    raise SystemExit(main())
