"""Fusion stage CLI: `python src_fusion_model/main.py COMMAND --config FILE [--set KEY=VALUE]`.

Commands: train, export, predict, search.

Runs from the repository root or from inside this folder, and under `torchrun` for `train`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Imports are package-qualified, so the repository root must be importable and this folder must not be
# (module names like `config` or `data` would shadow other packages).
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

from abaw import stage_cli  # noqa: E402
from abaw.cli import add_command  # noqa: E402
from src_fusion_model import config as stage_config  # noqa: E402

SUMMARY_COLUMNS = ("val_score", "val_ccc_valence", "val_ccc_arousal", "best_epoch")


def print_gates(result: dict, prefix: str = "gate_") -> None:
    gates = {k.removeprefix(prefix): v for k, v in result.items() if k.startswith(prefix)}
    print("mean gate weight on val: " + ", ".join(f"{k} {v:.3f}" for k, v in gates.items()))


def cmd_train(args: argparse.Namespace) -> dict:
    from src_fusion_model.train import run_train

    result = stage_cli.train_command(args, stage_config.load, run_train)
    if result:
        print_gates(result)
    return result


def trained(args: argparse.Namespace):
    from src_fusion_model import trained as stage_trained

    return stage_cli.load_trained(args, stage_config.load, stage_trained.resolve_checkpoint,
                                  stage_trained.load_trained)


def cmd_export(args: argparse.Namespace) -> dict:
    from src_fusion_model.export import export

    result = stage_cli.export_command(args, trained, export)
    if "val_gate" in result:
        print_gates(result["val_gate"], prefix="")
    return result


def cmd_predict(args: argparse.Namespace) -> dict:
    from src_fusion_model.export import predict

    return stage_cli.predict_command(args, trained, predict)


def cmd_search(args: argparse.Namespace) -> dict:
    from abaw.runs import setup_logging
    from abaw.search import read_space, run_search
    from src_fusion_model.train import STAGE, run_train

    base = stage_config.load(args.config, args.set)
    space = read_space(args.space)
    out = args.out or base.data.output_root / STAGE / f"search-{args.space.stem}"

    def load(overrides: list[str]) -> stage_config.FusionConfig:
        return stage_config.load(args.config, [*args.set, *overrides])

    def train(overrides: list[str]) -> dict:
        result = run_train(load(overrides))
        stage_cli.print_run_score(result)
        print_gates(result)
        return result

    setup_logging()
    result = run_search(space, out, train, load, metric="val_score", columns=SUMMARY_COLUMNS)
    print(f"search: {result['trials']} trials in {result['csv']}")
    print(f"best config: {result['best_config']}")
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="src_fusion_model/main.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    stage_cli.add_model_commands(sub, "DCMMOE on the modality frames tables", cmd_train, cmd_export,
                                 cmd_predict, stage_config.SPLITS)
    p = add_command(sub, "search", "grid or random search over config keys, one training run per trial",
                    cmd_search)
    stage_cli.config_options(p)
    p.add_argument("--space", type=Path, required=True,
                   help="search space TOML: key = [values] per searched key, optional trials = N (random)")
    p.add_argument("--out", type=Path, help="folder of search.csv and best.toml (default: <output_root>/"
                   "src_fusion_model/search-<space name>); rerun with the same folder to resume")
    return parser


def main(argv: list[str] | None = None) -> int:
    return stage_cli.stage_main(build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
