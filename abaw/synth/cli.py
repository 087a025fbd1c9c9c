"""`abaw synth`: the command-line face of the synthetic dataset generator."""

from __future__ import annotations

import argparse
from pathlib import Path

from abaw.synth.presets import PRESETS


def register(subparsers: argparse._SubParsersAction) -> None:
    from abaw.cli import add_command

    parser = add_command(subparsers, "synth", "write a synthetic Aff-Wild2-shaped dataset (labels; faces, "
                         "videos and audio for the tiny and demo presets)", run)
    parser.add_argument("--preset", choices=list(PRESETS), default="tiny",
                        help="tiny: tests (12 videos); demo: make demo (60 videos); scale: Aff-Wild2 "
                        "sizes, labels only")
    parser.add_argument("--out", type=Path, required=True, help="folder to write (empty, or an earlier "
                        "dataset with the same settings)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--features", type=int, default=None, metavar="D",
                        help="also write D-dim per-video feature caches under features/<split>/")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes rendering videos (default: the CPUs, at most 8)")
    parser.add_argument("--force", action="store_true", help="replace a different dataset in --out")


def run(args: argparse.Namespace) -> dict:
    from abaw.synth.generator import generate  # heavy imports only when the command runs

    result = generate(args.out, args.preset, seed=args.seed, features_dim=args.features, workers=args.workers,
                      force=args.force, progress=True)
    state = "up to date, reused" if result["cached"] else "written"
    print(f"synthetic dataset '{result['preset']}' (seed {result['seed']}) in {result['out']}: {state}")
    for split in ("train", "val", "test"):
        print(f"  {split:5s}: {result['videos'][split]:4d} videos, {result['frames'][split]:>9,d} frames "
              f"({result['labelled'][split]:,d} labelled)")
    if result["crops"]:
        print(f"  {result['recordings']} video files with audio, {result['crops']:,d} face crops")
    print(f"  config: {Path(result['out']) / 'data.toml'}  ({result['seconds']:.1f} s)")
    return result
