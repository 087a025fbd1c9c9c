"""The clip plan of a split: every stream's clips under the shared clip rule, with their labels.

Streams come from the annotation files (train, val) or the test template (test); a stream's clips are
planned on its base video (`X_left` / `X_right` use video `X`), whose timing is read from `[data]
video_timing` or measured from the file. A clip's label is the per-channel mean of the labelled frames
inside it (NaN when none; always NaN for test). Nothing is re-encoded: clips are frame ranges.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from abaw.affwild import SPLIT_DIRS, base_video, index_split, read_template
from abaw.atomic import atomic_path
from abaw.clips import ClipPlan, ClipRule, plan_clips
from abaw.config import DataConfig
from abaw.errors import AbawError
from abaw.tables import Table, make_meta, segments_table, write_table
from abaw.timing import stream_timing

PRODUCER = "src_behavior_description"


@dataclass
class SplitPlan:
    """The clips of one split: `plan` over the streams, with each stream's base video and timing."""

    split: str
    plan: ClipPlan  # videos = streams
    bases: np.ndarray  # unicode [V], the video file stem behind each stream
    fps: np.ndarray  # float64 [V]
    frames: np.ndarray  # int64 [V], frames of the base video
    labels: np.ndarray  # float32 [N, 2], per clip, NaN = no labelled frame

    @property
    def streams(self) -> np.ndarray:
        return self.plan.videos


def _clip_labels(plan: ClipPlan, offsets: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mean of the finite values of each channel over each clip's rows (rows past a stream's annotation
    count as unlabelled), from prefix sums: one pass over the split, no loop over clips."""
    finite = np.isfinite(values)
    sums = np.zeros((len(values) + 1, 2), np.float64)
    counts = np.zeros((len(values) + 1, 2), np.int64)
    np.cumsum(np.where(finite, values, 0.0), axis=0, out=sums[1:])
    np.cumsum(finite, axis=0, out=counts[1:])
    video = plan.video_of_row()
    base, length = offsets[video], offsets[video + 1] - offsets[video]
    lo = base + np.minimum(plan.start, length)
    hi = base + np.minimum(plan.stop, length)
    n = counts[hi] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (sums[hi] - sums[lo]) / n
    return np.where(n > 0, mean, np.nan).astype(np.float32)


def _streams(data: DataConfig, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None,
                                                    np.ndarray | None]:
    """(streams, annotated frames per stream, labels [N,2] or None, label offsets or None) of a split."""
    if split == "test":
        template = read_template(data.test_template)
        lengths = np.zeros(len(template.videos), np.int64)
        np.maximum.at(lengths, template.video_idx, template.frames.astype(np.int64))
        return template.videos, lengths, None, None
    index = index_split(data.annotations, split)
    return index.videos, index.lengths(), index.labels, index.offsets


def plan_split(data: DataConfig, rule: ClipRule, split: str) -> SplitPlan:
    """Plan the clips of every stream of `split`; a stream longer than its video is an error."""
    if split not in SPLIT_DIRS:
        raise AbawError(f"unknown split {split!r}; use one of {', '.join(SPLIT_DIRS)}")
    streams, lengths, values, offsets = _streams(data, split)
    fps, frames = stream_timing(data, [str(s) for s in streams])
    longer = np.flatnonzero(lengths > frames)
    if longer.size:
        i = int(longer[0])
        source = (f"the test template {data.test_template}" if split == "test"
                  else str(Path(data.annotations) / SPLIT_DIRS[split] / f"{streams[i]}.txt"))
        raise AbawError(f"{source}: stream {streams[i]} has {lengths[i]} annotated frames but its video "
                        f"{base_video(str(streams[i]))} has {frames[i]} ({fps[i]:g} fps); the annotation "
                        f"belongs to another video or the video is cut short ({longer.size} such streams)")
    plan = plan_clips(frames, fps, rule, videos=streams)
    labels = (np.full((plan.n_clips, 2), np.nan, np.float32) if values is None
              else _clip_labels(plan, offsets, values))
    bases = np.array([base_video(str(s)) for s in streams], dtype=np.str_)
    return SplitPlan(split=split, plan=plan, bases=bases, fps=fps, frames=frames, labels=labels)


def segments_of(split_plan: SplitPlan, config_sha: str, **meta) -> Table:
    """The plan as a `segments` table (DESIGN §3) without embeddings."""
    plan = split_plan.plan
    return segments_table(plan.videos, plan.offsets, start=plan.start, stop=plan.stop,
                          label=split_plan.labels,
                          meta=make_meta("segments", split_plan.split, "behaviour", PRODUCER, config_sha,
                                         **meta))


def write_segments(split_plan: SplitPlan, folder: Path, config_sha: str, **meta) -> tuple[Path, Path]:
    """`<folder>/<split>.npz` and a readable `<split>.csv` beside it (both atomic)."""
    table = segments_of(split_plan, config_sha, **meta)
    npz = write_table(folder / f"{split_plan.split}.npz", table)
    plan, labels = split_plan.plan, split_plan.labels
    video = plan.video_of_row()
    readable = pd.DataFrame({
        "video": plan.videos[video], "base_video": split_plan.bases[video],
        "clip": np.arange(plan.n_clips) - plan.offsets[video], "start": plan.start, "stop": plan.stop,
        "begin_s": plan.begin.round(3), "end_s": plan.end.round(3),
        "valence": labels[:, 0].round(4), "arousal": labels[:, 1].round(4),
    })
    path = folder / f"{split_plan.split}.csv"
    with atomic_path(path) as tmp:
        readable.to_csv(tmp, index=False)  # NaN labels become empty fields
    return npz, path
