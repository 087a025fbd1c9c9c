"""Clip inputs and the way back to frames.

A split's clips come from the description stage's `segments` table (`<input.segments>/<split>.npz`): one
row per clip `[start, stop)` of frame rows, one `embedding/<name>` column per pooled vector. The input of
the model is the concatenation of the vectors named in `input.features`. Sequences of `seq_len`
consecutive clips every `stride` clips (plus one aligned on a stream's last clip) are (video, first row)
pairs; a batch is one gather.

Clip values go back to frames with `spread`: each clip's value covers its frame rows, overlapping clips
are averaged per frame, frames no clip covers take the nearest covered frame, and the frames of the
split's positions (annotation lines, template rows) are read out, so every position gets a value.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from abaw.errors import AbawError
from abaw.grouped import GroupedByVideo, positions_in
from abaw.positions import Positions
from abaw.tables import EMBEDDING_PREFIX, read_table
from abaw.windows import expand_segments, fill_nearest, windows_of
from src_behavior_model.config import BehaviourConfig, segments_dir


@dataclasses.dataclass
class ClipSplit(GroupedByVideo):
    """The clips of one split; rows of video i are `offsets[i]:offsets[i+1]`, sorted by start."""

    split: str
    videos: np.ndarray
    offsets: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    features: np.ndarray  # float32 [K, F]
    labels: np.ndarray  # float32 [K, 2], NaN = no labelled frame in the clip
    producer: str
    feature_dims: tuple[int, ...]
    source: str = ""

    @property
    def n_clips(self) -> int:
        return int(self.offsets[-1])

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])


def segments_path(cfg: BehaviourConfig, split: str) -> Path:
    return segments_dir(cfg) / f"{split}.npz"


def read_clips(cfg: BehaviourConfig, split: str, expect: ClipSplit | dict | None = None) -> ClipSplit:
    """Read a split's clips with the configured vectors; `expect` (the train split, or a checkpoint's
    architecture) fixes the producer and the vector widths every other split must have."""
    path = segments_path(cfg, split)
    if not path.is_file():
        raise AbawError(
            f"{path}: no segments table for the {split} split; run the description stage "
            "(src_behavior_description/main.py describe) or set input.segments"
        )
    table = read_table(path, kind="segments")
    available = sorted(
        name[len(EMBEDDING_PREFIX) :] for name in table.columns if name.startswith(EMBEDDING_PREFIX)
    )
    missing = [name for name in cfg.input.features if name not in available]
    if missing:
        raise AbawError(
            f"{path}: no embedding named {', '.join(map(repr, missing))}; this table has "
            f"{', '.join(available) or 'no embedding at all'}; fix input.features"
        )
    if table.n_rows == 0:
        raise AbawError(
            f"{path}: the {split} split has no clips; rerun the description stage's segments "
            "and describe for it"
        )
    columns = [table.columns[EMBEDDING_PREFIX + name] for name in cfg.input.features]
    dims = tuple(int(c.shape[1]) for c in columns)
    producer = str(table.meta.get("producer", ""))
    if expect is not None:
        want = (
            (expect.producer, expect.feature_dims)
            if isinstance(expect, ClipSplit)
            else (expect.get("producer"), tuple(expect.get("feature_dims", ())))
        )
        if (producer, dims) != (want[0], tuple(want[1])):
            raise AbawError(
                f"{path}: vectors {list(cfg.input.features)} are {list(dims)}-d from {producer!r}, "
                f"but the model was built for {list(want[1])}-d from {want[0]!r}; all splits must "
                "come from one description run"
            )
    features = np.concatenate([c.astype(np.float32, copy=False) for c in columns], axis=1)
    return ClipSplit(
        split,
        table.videos,
        table.offsets,
        table.columns["start"].astype(np.int64),
        table.columns["stop"].astype(np.int64),
        features,
        table.columns["label"],
        producer,
        dims,
        str(path),
    )


# ------------------------------------------------------------------------------------------------ sequences


@dataclasses.dataclass(frozen=True)
class Sequences:
    """All clip sequences of a split: first clip row (global) and number of real clips."""

    row: np.ndarray
    length: np.ndarray

    def __len__(self) -> int:
        return len(self.row)


def make_sequences(offsets: np.ndarray, seq_len: int, stride: int) -> Sequences:
    """`seq_len` clips every `stride` clips plus an end-aligned sequence, for every video."""
    parts = [windows_of(int(n), seq_len, stride) for n in np.diff(offsets)]
    starts = [offsets[i] + s for i, (s, _) in enumerate(parts)]
    if not parts:
        return Sequences(np.zeros(0, np.int64), np.zeros(0, np.int64))
    return Sequences(np.concatenate(starts).astype(np.int64), np.concatenate([n for _, n in parts]))


def labelled_sequences(seqs: Sequences, labels: np.ndarray) -> Sequences:
    """Only sequences holding at least one labelled clip teach anything."""
    counts = np.concatenate([[0], np.cumsum(np.isfinite(labels).all(axis=1))])
    keep = counts[seqs.row + seqs.length] > counts[seqs.row]
    return Sequences(seqs.row[keep], seqs.length[keep])


def gather(
    seqs: Sequences, chosen: np.ndarray, seq_len: int, features: np.ndarray, labels: np.ndarray | None = None
) -> dict[str, torch.Tensor]:
    """Batch of the sequences `chosen`: features [B,L,F], mask [B,L], clip rows [B,L] and targets [B,L,2]."""
    mask = np.arange(seq_len) < seqs.length[chosen, None]
    index = np.where(mask, seqs.row[chosen, None] + np.arange(seq_len), seqs.row[chosen, None])
    batch = {
        "features": torch.from_numpy(np.take(features, index, axis=0)),
        "mask": torch.from_numpy(mask),
        "rows": torch.from_numpy(index),
    }
    if labels is not None:
        y = np.take(labels, index, axis=0)
        y[~mask] = np.nan
        batch["target"] = torch.from_numpy(y)
    return batch


# ----------------------------------------------------------------------------------------- clips -> frames


def clip_videos(clips: ClipSplit, pos: Positions) -> np.ndarray:
    """The clip-table position of every video of the split's positions; a video without clips is an error."""
    at = positions_in(clips.videos, pos.videos)
    lacking = pos.videos[(at < 0) | (at >= 0) & (clips.lengths()[np.maximum(at, 0)] == 0)]
    if lacking.size:
        names = ", ".join(map(str, lacking[:5])) + (" ..." if lacking.size > 5 else "")
        raise AbawError(
            f"{clips.source}: {lacking.size} video(s) of {pos.source} have no clip: {names}; "
            "the segments table was made for other videos, rerun the description stage"
        )
    return at


def spread(clips: ClipSplit, pos: Positions, values: np.ndarray) -> np.ndarray:
    """Per-position float32 [N, C] from clip values [K, C] (overlaps averaged, nearest fill)."""
    at = clip_videos(clips, pos)
    out = np.empty((int(pos.offsets[-1]), values.shape[1]), np.float32)
    for i, j in enumerate(at):
        rows = slice(int(pos.offsets[i]), int(pos.offsets[i + 1]))
        if rows.start == rows.stop:
            continue
        frames = pos.frames[rows].astype(np.int64)
        clip_rows = slice(int(clips.offsets[j]), int(clips.offsets[j + 1]))
        per_frame = expand_segments(
            int(frames.max()), clips.start[clip_rows], clips.stop[clip_rows], values[clip_rows]
        )
        if np.isnan(per_frame).all():
            raise AbawError(
                f"{clips.source}: no clip of video {str(pos.videos[i])!r} overlaps its frames "
                f"1..{int(frames.max())}; the segments table does not fit these annotations"
            )
        out[rows] = fill_nearest(per_frame)[frames - 1]
    return out
