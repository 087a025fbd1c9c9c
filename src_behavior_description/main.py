"""Behaviour stream CLI: `python src_behavior_description/main.py COMMAND --config FILE [--set KEY=VALUE]`.

Commands: segments, describe, inspect, warmup, probe.

Runs from the repository root or from inside this folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Imports are package-qualified (`src_behavior_description.x`), so the repository root is what must be
# importable; the script's own folder is taken off sys.path so that module names like `config` can
# never shadow other packages.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from abaw.cli import add_command, run_command  # noqa: E402
from src_behavior_description import config as stage_config  # noqa: E402


def load_cfg(args: argparse.Namespace) -> stage_config.BehaviourConfig:
    from abaw.runs import setup_logging

    cfg = stage_config.load(args.config, args.set)
    setup_logging()
    return cfg


def chosen_splits(args: argparse.Namespace, cfg: stage_config.BehaviourConfig) -> tuple[str, ...]:
    return tuple(args.split) if args.split else cfg.describe.splits


def cmd_segments(args: argparse.Namespace) -> dict:
    import numpy as np

    from abaw.config import config_sha, to_dict
    from src_behavior_description.segments import plan_split, write_segments

    cfg = load_cfg(args)
    out = args.out or stage_config.segments_dir(cfg)
    result = {}
    for split in chosen_splits(args, cfg):
        sp = plan_split(cfg.data, cfg.clips, split)
        npz, csv = write_segments(sp, out, config_sha(cfg.clips), clips=to_dict(cfg.clips))
        labelled = int(np.isfinite(sp.labels).any(axis=1).sum())
        print(f"{split}: {len(sp.streams)} streams of {len(set(sp.bases.tolist()))} videos, "
              f"{sp.plan.n_clips} clips ({labelled} labelled) -> {npz} (readable: {csv.name})")
        result[split] = {"streams": len(sp.streams), "clips": sp.plan.n_clips, "labelled": labelled,
                         "table": str(npz), "csv": str(csv)}
    return result


def cmd_describe(args: argparse.Namespace) -> dict:
    from abaw.manifest import parse_shard
    from src_behavior_description.describe import describe_split, prepare_split
    from src_behavior_description.describer import Describer

    cfg = load_cfg(args)
    shard = parse_shard(args.shard)
    # Every split is planned and its videos found before the model loads: data mistakes show in seconds.
    works = {split: prepare_split(cfg, split, shard) for split in chosen_splits(args, cfg)}
    describer = Describer.load(cfg.describer)
    result = {}
    for split, work in works.items():
        counts = describe_split(cfg, describer, work, fail_fast=args.fail_fast)
        failed = (f", {counts['failed_clips']} clips failed (see errors.jsonl)"
                  if counts["failed_clips"] else "")
        print(f"{split}: {counts['videos']} videos ({counts['described']} described, {counts['reused']} "
              f"reused), {counts['streams']} streams{failed} -> {counts['table']}")
        result[split] = counts
    return result


def cmd_inspect(args: argparse.Namespace) -> dict:
    from src_behavior_description.contact_sheet import inspect_clip

    cfg = load_cfg(args)
    result = inspect_clip(cfg, args.video, args.clip, args.split, args.out)
    print(f"{result['video']} clip {args.clip} [{result['start']}, {result['stop']}) of {result['split']}: "
          f"{result['video_tokens']} video tokens, {result['generated_tokens']} generated")
    print(f"description: {result['description']}")
    print(f"contact sheet: {result['png']}")
    return result


def cmd_warmup(args: argparse.Namespace) -> dict:
    from src_behavior_description.pretrain import run_warmup

    cfg = load_cfg(args)
    result = run_warmup(cfg)
    losses = ", ".join(f"{loss:.3f}" for loss in result["loss"])
    held = ""
    if result["held_out"]:
        held = f"; held-out loss {', '.join(f'{loss:.3f}' for loss in result['held_out_loss'])} " \
               f"({result['held_out']} clips, the best epoch kept)"
    print(f"warm-up on {result['clips']} clips of {result['data']}: {result['seconds']:.0f} s "
          f"(drawing the clips {result['sampling_seconds']:.0f} s, "
          f"training {result['training_seconds']:.0f} s); loss per epoch {losses}{held}")
    print(f"warmed describer: {result['model']} (describer.path)")
    return result


def cmd_probe(args: argparse.Namespace) -> dict:
    from src_behavior_description.probe import probe

    cfg = load_cfg(args)
    result = probe(stage_config.descriptions_dir(cfg))
    print(f"{'vector':<12} {'valence':>8} {'arousal':>8} {'score':>8}   (ridge train -> val, clip CCC)")
    for name, score in result.items():
        print(f"{name:<12} {score['ccc_valence']:8.4f} {score['ccc_arousal']:8.4f} {score['score']:8.4f}")
    return result


def common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="stage config (TOML)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set describer.batch_size=8 (repeatable)")


def with_splits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", action="append", choices=stage_config.SPLITS,
                        help="only this split (repeatable; default: describe.splits)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="src_behavior_description/main.py",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = add_command(sub, "segments", "plan the 4 s clips of every stream with their labels", cmd_segments)
    common(p)
    with_splits(p)
    p.add_argument("--out", type=Path,
                   help="folder (default: <output_root>/src_behavior_description/segments)")
    p = add_command(sub, "describe", "describe every clip and pool its hidden states", cmd_describe)
    common(p)
    with_splits(p)
    p.add_argument("--shard", default="0/1", help="I/N: describe only every N-th video starting at I")
    p.add_argument("--fail-fast", action="store_true",
                   help="stop at the first clip that cannot be read instead of recording it in errors.jsonl")
    p = add_command(sub, "inspect", "contact sheet of one clip with its description", cmd_inspect)
    common(p)
    p.add_argument("--video", required=True, help="stream id (e.g. 10-24-320x240 or 6-30-320x240_left)")
    p.add_argument("--clip", type=int, required=True, help="0-based clip number within the stream")
    p.add_argument("--split", choices=stage_config.SPLITS, help="split holding the stream (default: search)")
    p.add_argument("--out", type=Path,
                   help="PNG to write (default: under <output_root>/src_behavior_description/inspect)")
    p = add_command(sub, "warmup", "train the demo describer on a separate synthetic dataset", cmd_warmup)
    common(p)
    p = add_command(sub, "probe", "ridge from each pooled vector to the clip labels: val CCC", cmd_probe)
    common(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(args.func, args)


if __name__ == "__main__":
    raise SystemExit(main())
