"""A split's frame positions: the frames every stage must predict (annotation lines, template rows),
and the checked way back to a submission in template order."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from abaw.affwild import index_split, read_template
from abaw.config import DataConfig
from abaw.errors import AbawError
from abaw.submission import validate_submission, write_submission


@dataclasses.dataclass(frozen=True)
class Positions:
    """Frame positions of a split, grouped by video (rows of video i are `offsets[i]:offsets[i+1]`)."""

    videos: np.ndarray
    offsets: np.ndarray
    frames: np.ndarray
    labels: np.ndarray
    template_rows: np.ndarray | None = None
    source: str = ""


def split_positions(data: DataConfig, split: str, template: Path | None = None) -> Positions:
    """Train/val: every annotation line; test: every template row, grouped by video and sorted by frame
    (`template_rows[r]` is the template row of position r)."""
    if split != "test":
        index = index_split(data.annotations, split)
        return Positions(index.videos, index.offsets.astype(np.int64), index.frames.astype(np.int32),
                         index.labels, source=str(data.annotations))
    path = template or data.test_template
    rows = read_template(path)
    order = np.lexsort((rows.frames, rows.video_idx))
    counts = np.bincount(rows.video_idx, minlength=len(rows.videos))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    frames = rows.frames[order].astype(np.int32)
    return Positions(rows.videos, offsets, frames, np.full((len(frames), 2), np.nan, np.float32), order,
                     str(path))


def contiguous(pos: Positions) -> bool:
    """Whether each video's positions are frames 1..n, as per-video TXT files (line k = frame k) require."""
    first = pos.offsets[:-1]
    expected = np.arange(int(pos.offsets[-1])) - np.repeat(first, np.diff(pos.offsets)) + 1
    return bool(np.array_equal(pos.frames, expected))


def template_order(pos: Positions, values: np.ndarray) -> np.ndarray:
    """Values of the test positions put back in template row order."""
    assert pos.template_rows is not None
    out = np.empty_like(values)
    out[pos.template_rows] = values
    return out


def write_submission_checked(path: Path, template_path: Path, pos: Positions, pred: np.ndarray) -> Path:
    """Write the flat submission and validate it; a problem is an error, never a silent bad file."""
    write_submission(path, read_template(template_path), template_order(pos, pred))
    problems = validate_submission(template_path, path)
    if problems:
        raise AbawError(f"{path}: the written submission is not valid: {'; '.join(problems[:5])}")
    return path
