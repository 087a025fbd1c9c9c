"""`abaw evaluate`: the official CCC of frame predictions against the annotations of a split.

Predictions come as a flat file (`image_location,valence,arousal`), a folder of per-video `<video>.txt`
files (`valence,arousal`, line k = frame k) or a `frames` table (`.npz`). They are joined to the annotated
frames through one sorted integer key per frame. A labelled frame without a prediction cannot be scored:
the CCC covers the predicted frames only, and coverage (the fraction of labelled frames that have a
prediction) is reported beside it, with a warning whenever it is below 1.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from abaw.affwild import SplitIndex, index_folder, parse_frame_keys, split_folder
from abaw.atomic import write_text
from abaw.errors import AbawError
from abaw.grouped import positions_in
from abaw.submission import NO_LABEL, read_submission
from abaw.tables import read_table

PER_VIDEO_CSV = "per_video.csv"
PLOT_PNG = "evaluation.png"
WORST_SHOWN = 4
_NAMES_SHOWN = 5


@dataclass
class Predictions:
    """Frame predictions from any source as (video, frame) rows; NaN means no prediction."""

    source: str  # "flat file", "TXT folder" or "frames table"
    videos: np.ndarray  # unicode [V]
    video_idx: np.ndarray  # int [M], position in `videos`
    frames: np.ndarray  # int [M], 1-based
    values: np.ndarray  # float [M, 2] (valence, arousal)


def read_predictions(path: str | os.PathLike) -> Predictions:
    """Read a flat file, a folder of `<video>.txt` files, or a `frames` table (`.npz`)."""
    path = Path(path)
    if path.is_dir():
        split = index_folder(path)
        return Predictions("TXT folder", split.videos, split.video_of_row(), split.frames, split.labels)
    if not path.is_file():
        raise AbawError(f"{path}: predictions not found; give a flat image_location,valence,arousal file, "
                        "a folder of <video>.txt files or a frames table (.npz)")
    if path.suffix == ".pkl":  # read as text it would fail with a header of binary noise
        raise AbawError(f"{path}: a PKL is not read here, since unpickling can run code; convert it first: "
                        f"abaw convert --to npz {path} OUT.npz --split SPLIT --allow-pickle")
    if path.suffix == ".npz":
        table = read_table(path, kind="frames")
        return Predictions("frames table", table.videos, table.video_of_row(), table.columns["frame"],
                           table.columns["prediction"])
    keys, values = read_submission(path, text_keys=False)
    values[values == NO_LABEL] = np.nan  # -5 means "no value" here as in the TXT files
    try:
        videos, video_idx, frames = parse_frame_keys(keys)
    except AbawError as exc:
        raise AbawError(f"{path}: {exc}") from None
    return Predictions("flat file", videos, video_idx, frames, values)


def _names(names) -> str:
    """The first few names, for messages."""
    shown = ", ".join(map(str, names[:_NAMES_SHOWN]))
    return shown + (", ..." if len(names) > _NAMES_SHOWN else "")


def align_predictions(index: SplitIndex, predictions: Predictions) -> tuple[np.ndarray, np.ndarray]:
    """(float64 [N, 2] predictions on the index rows, NaN where none; bool [M] prediction matched a frame).

    Keys are `video position * span + frame` on both sides; the index's keys are sorted by
    construction (videos in order, frames increasing), so one `searchsorted` does the join.
    """
    video_pos = positions_in(index.videos, np.asarray(predictions.videos))[np.asarray(predictions.video_idx)]
    frames = np.asarray(predictions.frames, dtype=np.int64)
    span = int(max(index.frames.max(initial=0), frames.max(initial=0))) + 1
    index_keys = index.video_of_row() * span + index.frames
    order = None if np.all(index_keys[1:] > index_keys[:-1]) else np.argsort(index_keys)
    if order is not None:
        index_keys = index_keys[order]
    keys = video_pos * span + frames
    at = np.minimum(np.searchsorted(index_keys, keys), max(len(index_keys) - 1, 0))
    matched = (video_pos >= 0) & (index_keys[at] == keys) if len(index_keys) else np.zeros(len(keys), bool)
    rows = at[matched] if order is None else order[at[matched]]
    hits = np.bincount(rows, minlength=len(index_keys))
    if (hits > 1).any():
        row = int(np.argmax(hits > 1))
        video = index.videos[index.video_of_row()[row]]
        count = int((hits > 1).sum())
        raise AbawError(f"{count} {'frame is' if count == 1 else 'frames are'} predicted more than once "
                        f"(first: video {str(video)!r} frame {int(index.frames[row])}); "
                        "give one prediction per frame")
    aligned = np.full((len(index.frames), 2), np.nan)
    aligned[rows] = np.asarray(predictions.values, dtype=np.float64)[matched]
    return aligned, matched


def per_video_scores(index: SplitIndex, aligned: np.ndarray, covered: np.ndarray) -> pd.DataFrame:
    """video, frames, labelled, covered, ccc_valence, ccc_arousal (NaN for a video with no scored frame)."""
    from abaw.metrics import ccc  # metrics loads torch; importing it here keeps every CLI start fast

    labels = index.labels
    lengths = np.diff(index.offsets)
    video = index.video_of_row()
    scores = np.full((len(index.videos), 2), np.nan)
    for i, (start, stop) in enumerate(zip(index.offsets[:-1], index.offsets[1:], strict=True)):  # per video
        for c in range(2):
            rows = np.flatnonzero(covered[start:stop] & ~np.isnan(labels[start:stop, c])) + start
            if rows.size:
                scores[i, c] = ccc(aligned[rows, c], labels[rows, c])
    return pd.DataFrame({
        "video": index.videos,
        "frames": lengths,
        "labelled": np.bincount(video[~np.isnan(labels).all(axis=1)], minlength=len(index.videos)),
        "covered": np.bincount(video[covered], minlength=len(index.videos)),
        "ccc_valence": scores[:, 0],
        "ccc_arousal": scores[:, 1],
    })


def _plot(path: Path, index: SplitIndex, aligned: np.ndarray, table: pd.DataFrame) -> Path:
    """Per-video CCC distribution on top, then prediction vs truth for the worst-scoring videos."""
    from abaw.plots import draw_ccc_distribution, draw_va_traces, new_figure, save_figure  # slow import

    scored = table[table["covered"] > 0]
    mean = scored[["ccc_valence", "ccc_arousal"]].mean(axis=1)
    worst = scored.assign(mean=mean).nsmallest(WORST_SHOWN, "mean")
    fig = new_figure(12.0, 3.5 + 2.4 * len(worst))
    grid = fig.add_gridspec(1 + len(worst), 2, height_ratios=[1.4] + [1.0] * len(worst))
    per_video = {"valence": table["ccc_valence"].to_numpy(), "arousal": table["ccc_arousal"].to_numpy()}
    draw_ccc_distribution(fig.add_subplot(grid[0, :]), per_video,
                          title=f"per-video CCC ({len(scored)} videos scored)")
    for row, (i, item) in enumerate(worst.iterrows(), start=1):
        rows = slice(int(index.offsets[i]), int(index.offsets[i + 1]))
        title = f"{item['video']} (CCC V {item['ccc_valence']:.3f}, A {item['ccc_arousal']:.3f})"
        draw_va_traces([fig.add_subplot(grid[row, c]) for c in range(2)], title, index.frames[rows],
                       aligned[rows], index.labels[rows])
    return save_figure(fig, path)


def default_out_dir(predictions: str | os.PathLike) -> Path:
    """`<predictions>.eval` beside the predictions."""
    path = Path(predictions)
    return path.with_name(path.name + ".eval")


def evaluate(annotations_dir: str | os.PathLike, predictions: str | os.PathLike,
             out_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Score predictions against an annotation folder; write `per_video.csv` and `evaluation.png`.

    Returns ccc_valence, ccc_arousal, score (official CCC over the labelled frames that have a
    prediction), coverage, counts, the unknown prediction videos, and the paths written.
    """
    from abaw.metrics import va_score  # metrics loads torch; importing it here keeps every CLI start fast

    index = index_folder(annotations_dir)
    preds = read_predictions(predictions)
    try:
        aligned, matched = align_predictions(index, preds)
    except AbawError as exc:
        raise AbawError(f"{predictions}: {exc}") from None
    labelled = ~np.isnan(index.labels).all(axis=1)
    covered = labelled & np.isfinite(aligned).all(axis=1)
    n_labelled, n_covered = int(labelled.sum()), int(covered.sum())
    if n_labelled == 0:
        raise AbawError(f"{annotations_dir}: no labelled frame (every label is -5); nothing to score")
    unknown = np.setdiff1d(np.asarray(preds.videos), index.videos)
    if n_covered == 0:
        raise AbawError(f"{predictions}: no labelled frame of {annotations_dir} has a prediction; the "
                        f"prediction videos ({_names(preds.videos)}) must be named like the annotation "
                        f"files ({_names(index.videos)})")
    result: dict[str, Any] = dict(va_score(aligned[covered], index.labels[covered]))
    table = per_video_scores(index, aligned, covered)
    out_dir = default_out_dir(predictions) if out_dir is None else Path(out_dir)
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, float_format="%.6f")
    csv_path = write_text(out_dir / PER_VIDEO_CSV, buffer.getvalue())
    plot_path = _plot(out_dir / PLOT_PNG, index, aligned, table)
    result.update({
        "coverage": n_covered / n_labelled,
        "labelled": n_labelled,
        "covered": n_covered,
        "videos": len(index.videos),
        "videos_scored": int((table["covered"] > 0).sum()),
        "source": preds.source,
        "unmatched": int((~matched).sum()),
        "unknown_videos": [str(v) for v in unknown],
        "per_video_csv": str(csv_path),
        "plot": str(plot_path),
    })
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    folder, split = split_folder(args.annotations, args.split, "val")
    result = evaluate(folder, args.predictions, args.out)
    result["split"] = split
    coverage = result["coverage"]
    print(f"predictions: {args.predictions} ({result['source']})")
    print(f"annotations: {folder} ({split}: {result['videos']} videos, "
          f"{result['labelled']:,} labelled frames)")
    print(f"coverage:    {coverage:.2%} of labelled frames have a prediction "
          f"({result['covered']:,} of {result['labelled']:,})")
    scope = "" if coverage == 1.0 else f"  (over the {coverage:.2%} covered frames only)"
    print(f"CCC valence {result['ccc_valence']:.4f}  arousal {result['ccc_arousal']:.4f}  "
          f"score {result['score']:.4f}{scope}")
    print(f"per-video:   {result['per_video_csv']}")
    print(f"plot:        {result['plot']}")
    if coverage < 1.0:
        print(f"warning: coverage {coverage:.2%}: {result['labelled'] - result['covered']:,} labelled frames "
              "have no prediction and are not scored; this is not the score of a complete submission",
              file=sys.stderr)
    if result["unmatched"]:
        names = result["unknown_videos"]
        which = f"videos not annotated here: {_names(names)}" if names else "frames beyond the annotations"
        print(f"warning: {result['unmatched']:,} predictions match no annotated frame ({which})",
              file=sys.stderr)
    return result


def register(subparsers: argparse._SubParsersAction) -> None:
    from abaw.cli import add_command

    parser = add_command(subparsers, "evaluate",
                         "official CCC of frame predictions against an annotation folder", run)
    parser.add_argument("--annotations", type=Path, required=True,
                        help="the folder holding Train_Set / Validation_Set (as for `abaw index`), or one of "
                             "those folders of <video>.txt annotation files")
    parser.add_argument("--split", choices=("train", "val"),
                        help="split to score against (default: val, or the folder's own split)")
    parser.add_argument("--predictions", type=Path, required=True,
                        help="a flat image_location,valence,arousal file, a folder of <video>.txt files, "
                             "or a frames table (.npz)")
    parser.add_argument("--out", type=Path, help="output folder (default: <predictions>.eval beside them)")
