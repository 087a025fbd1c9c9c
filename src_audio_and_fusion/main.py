"""Audio and fusion CLI: `python src_audio_and_fusion/main.py COMMAND --config FILE [--set KEY=VALUE]`.

Audio commands: extract-audio, windows, train-audio, export-audio; RAAV fusion: train-fusion,
export-fusion. Each command is one `cmd_*` function
and one entry in `COMMANDS`; more commands slot in the same way.

Runs from the repository root or from inside this folder, and under `torchrun` for `train-audio`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Imports are package-qualified (`src_audio_and_fusion.x`), so the repository root is what must be
# importable; the script's own folder is taken off sys.path so that module names like `config` or
# `data` can never shadow other packages.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from abaw.cli import add_command, run_command  # noqa: E402
from src_audio_and_fusion import config as stage_config  # noqa: E402


def load_cfg(args: argparse.Namespace) -> stage_config.StageConfig:
    from abaw.runs import setup_logging

    cfg = stage_config.load(args.config, args.set)
    setup_logging()
    return cfg


def run_dir_of(checkpoint: Path) -> Path:
    """The run directory holding `checkpoints/<file>.pt`, else the checkpoint's folder."""
    parent = checkpoint.parent
    return parent.parent if parent.name == "checkpoints" else parent


# ------------------------------------------------------------------------------------------------ audio


def cmd_extract_audio(args: argparse.Namespace) -> dict:
    from abaw.manifest import parse_shard
    from src_audio_and_fusion.wav import extract_audio

    cfg = load_cfg(args)
    splits = tuple(args.split) if args.split else cfg.extract_audio.splits
    counts = extract_audio(cfg, splits, parse_shard(args.shard))
    print(f"{counts['videos']} videos: {counts['ok']} decoded, {counts['reused']} reused, "
          f"{counts['no_audio']} without an audio track, {counts['failed']} unreadable "
          f"-> {stage_config.wav_dir(cfg)}")
    return counts


def cmd_windows(args: argparse.Namespace) -> dict:
    from src_audio_and_fusion.audio_windows import write_windows

    cfg = load_cfg(args)
    result = {}
    for split in args.split or stage_config.SPLITS:
        counts = write_windows(cfg, split)
        print(f"{split}: {counts['streams']} streams, {counts['windows']} windows ({counts['reliable']} "
              f"reliable, {counts['without_audio']} without audio, {counts['trainable']} trainable) "
              f"-> {counts['path']}")
        result[split] = counts
    return result


def cmd_train_audio(args: argparse.Namespace) -> dict:
    from abaw.runs import open_run
    from src_audio_and_fusion.train_audio import run_train

    if args.resume is not None:
        run = open_run(args.resume)
        cfg = stage_config.load(run.config_path, args.set)
    else:
        cfg, run = stage_config.load(args.config, args.set), None
    result = run_train(cfg, run)
    if "val_score" not in result:  # ranks other than 0 print nothing
        return {}
    print(f"run: {result['run_dir']}")
    print(f"best epoch {result['best_epoch']}: frame-level validation score {result['val_score']:.4f} "
          f"(valence {result['val_ccc_valence']:.4f}, arousal {result['val_ccc_arousal']:.4f})")
    if "ridge_score" in result:
        print(f"ridge on per-second loudness and pitch: {result['ridge_score']:.4f} (valence "
              f"{result['ridge_ccc_valence']:.4f}, arousal {result['ridge_ccc_arousal']:.4f})")
    return {k: v for k, v in result.items() if k != "best_metrics"}


def cmd_export_audio(args: argparse.Namespace) -> dict:
    from src_audio_and_fusion.export_audio import export
    from src_audio_and_fusion.trained import load_trained, resolve_checkpoint

    cfg = load_cfg(args)
    path, which = resolve_checkpoint(cfg, args.checkpoint)
    print(f"using {which}")
    out = args.out or cfg.export_audio.out or run_dir_of(path) / "export"
    result = export(cfg, load_trained(cfg, path), path, out)
    for split in cfg.export_audio.splits:
        score = f" (official score {result[f'{split}_score']:.4f})" if f"{split}_score" in result else ""
        print(f"{split}: {result[f'{split}_windows']} windows, {result[f'{split}_frames']} frames "
              f"-> {out}/{{windows,frames}}/{split}.npz{score}")
    if "submission" in result:
        print(f"test submission (validated): {result['submission']}")
    return result


# ------------------------------------------------------------------------------------------------ fusion


def cmd_train_fusion(args: argparse.Namespace) -> dict:
    from src_audio_and_fusion.fusion_train import run_train

    cfg = load_cfg(args)
    result = run_train(cfg)
    if "val_score" not in result:  # ranks other than 0 print nothing
        return {}
    print(f"run: {result['run_dir']}")
    names = [n for n in (*cfg.fusion.modalities, "audio") if f"{n}_score" in result]
    singles = ", ".join(f"{n} {result[n + '_score']:.4f}" for n in names)
    gates = ", ".join(f"{n} {result['gate_' + n]:.2f}" for n in cfg.fusion.modalities)
    print(f"best epoch {result['best_epoch']}: frame-level validation score {result['val_score']:.4f}; "
          f"each input alone: {singles}; mean gate: {gates}")
    return {k: v for k, v in result.items() if k != "best_metrics"}


def cmd_export_fusion(args: argparse.Namespace) -> dict:
    from src_audio_and_fusion.fusion_export import export, load_trained, resolve_checkpoint

    cfg = load_cfg(args)
    path, which = resolve_checkpoint(cfg, args.checkpoint)
    print(f"using {which}")
    out = args.out or cfg.export_fusion.out or run_dir_of(path) / "export"
    result = export(cfg, load_trained(cfg, path), path, out)
    for split in cfg.export_fusion.splits:
        score = f" (official score {result[f'{split}_score']:.4f})" if f"{split}_score" in result else ""
        print(f"{split}: {result[f'{split}_rows']} frames -> {out}/frames/{split}.npz{score}")
    if "submission" in result:
        print(f"test submission (validated): {result['submission']}")
    return result


# -------------------------------------------------------------------------------------------------- CLI


def common(parser: argparse.ArgumentParser, config_required: bool = True) -> None:
    parser.add_argument("--config", type=Path, required=config_required, help="stage config (TOML)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set train_audio.epochs=2 (repeatable)")


def add_extract_audio(sub) -> None:
    p = add_command(sub, "extract-audio", "one 16 kHz mono WAV per source video (resumable)",
                    cmd_extract_audio)
    common(p)
    p.add_argument("--split", action="append", choices=stage_config.SPLITS,
                   help="only this split (repeatable)")
    p.add_argument("--shard", default="0/1", help="I/N: only every N-th video starting at I")


def add_windows(sub) -> None:
    p = add_command(sub, "windows", "4 s windows with 1 s labels and speech reliability", cmd_windows)
    common(p)
    p.add_argument("--split", action="append", choices=stage_config.SPLITS,
                   help="this split (repeatable; default: all three)")


def add_train_audio(sub) -> None:
    p = add_command(sub, "train-audio", "train WavLM with per-second heads on the windows", cmd_train_audio)
    common(p, config_required=False)
    p.add_argument("--resume", type=Path, help="a run directory to continue from its last.pt")


def add_export_audio(sub) -> None:
    p = add_command(sub, "export-audio", "windows and frames tables of every split, test submission",
                    cmd_export_audio)
    common(p)
    p.add_argument("--checkpoint", type=Path,
                   help="checkpoint file, run directory or 'best' "
                        "(default: newest complete run of train_audio.name)")
    p.add_argument("--out", type=Path, help="output folder (default: <run>/export)")


def add_train_fusion(sub) -> None:
    p = add_command(sub, "train-fusion", "train RAAV on face/behaviour frames and audio windows",
                    cmd_train_fusion)
    common(p)


def add_export_fusion(sub) -> None:
    p = add_command(sub, "export-fusion", "RAAV frames tables of every split, test submission",
                    cmd_export_fusion)
    common(p)
    p.add_argument("--checkpoint", type=Path,
                   help="checkpoint file, run directory or 'best' "
                        "(default: newest complete run of train_fusion.name)")
    p.add_argument("--out", type=Path, help="output folder (default: <run>/export)")


COMMANDS: tuple[Callable, ...] = (add_extract_audio, add_windows, add_train_audio, add_export_audio,
                                  add_train_fusion, add_export_fusion)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="src_audio_and_fusion/main.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "config", None) is None and getattr(args, "resume", None) is None:
        print(f"error: {args.command} needs --config FILE" + (" (or --resume RUN_DIR)" if args.command ==
              "train-audio" else ""), file=sys.stderr)
        return 2
    return run_command(args.func, args)


if __name__ == "__main__":
    raise SystemExit(main())
