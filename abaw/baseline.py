"""`abaw baseline`: the training-set mean as a prediction, a floor every model must beat."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from abaw.affwild import index_split, read_template
from abaw.config import DataConfig, load_section
from abaw.submission import write_submission, write_video_txts


def train_mean(data: DataConfig) -> np.ndarray:
    """Mean valence and arousal over the labelled training frames."""
    labels = index_split(data.annotations, "train").labels
    return np.nanmean(labels, axis=0).astype(np.float32)


def write_baseline(data: DataConfig, out_dir: Path) -> dict[str, Any]:
    """Write the mean as a flat test submission and as per-video TXT files for the validation split."""
    # Every input is read before the first write, so a bad file leaves no partial baseline behind.
    mean = train_mean(data)
    template = read_template(data.test_template)
    val = index_split(data.annotations, "val")
    submission = out_dir / "submission.txt"
    write_submission(submission, template, np.broadcast_to(mean, (len(template.frames), 2)))
    write_video_txts(out_dir / "val", val.videos, val.offsets, np.broadcast_to(mean, (val.n_frames, 2)))
    return {"valence_mean": float(mean[0]), "arousal_mean": float(mean[1]),
            "submission": str(submission), "val_predictions": str(out_dir / "val")}


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = load_section(DataConfig, args.config, "data")
    out_dir = args.out or data.output_root / "baseline"
    result = write_baseline(data, out_dir)
    print(f"train mean: valence {result['valence_mean']:+.4f}, arousal {result['arousal_mean']:+.4f}")
    print(f"test submission: {result['submission']}")
    print(f"validation predictions: {result['val_predictions']}")
    return result


def register(subparsers: argparse._SubParsersAction) -> None:
    from abaw.cli import add_command

    parser = add_command(subparsers, "baseline", "write the training-set mean as a submission", run)
    parser.add_argument("--config", type=Path, required=True, help="a config file with a [data] section")
    parser.add_argument("--out", type=Path, help="output folder (default: <output_root>/baseline)")
