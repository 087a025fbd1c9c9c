"""Window steps back to frames: linear interpolation of step predictions, step embeddings per frame.

Within a window, frame row r (time `r / fps`) takes the prediction interpolated linearly between the
centres of the window's steps (held constant before the first and after the last centre). Overlapping
windows are averaged (`abaw.windows.stitch`), and frames no window covers take the nearest covered
frame of their stream (`abaw.windows.fill_nearest`). Embeddings are piecewise constant: a frame takes the
embedding of the step whose bin covers it (`abaw.windows.expand_segments`), averaged over windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abaw.tables import Table
from abaw.windows import expand_segments, fill_nearest, stitch
from src_audio_and_fusion.bins import bin_rows, bin_times, step_centres


@dataclass
class FrameLayout:
    """Every frame of a split's streams, one after another, as seen from its windows table."""

    videos: np.ndarray
    offsets: np.ndarray  # int64 [V+1]: frame rows of stream i are offsets[i]:offsets[i+1]
    window_base: np.ndarray  # int64 [K]: first frame row of each window's stream
    window_rows: np.ndarray  # int64 [K]: frame rows in each window's stream

    @classmethod
    def of(cls, table: Table) -> FrameLayout:
        counts = table.lengths()
        first = np.minimum(table.offsets[:-1], max(table.n_rows - 1, 0))
        rows_of_stream = np.where(counts > 0, table.columns["stream_rows"][first] if table.n_rows else 0, 0)
        offsets = np.concatenate([[0], np.cumsum(rows_of_stream)]).astype(np.int64)
        video_of = table.video_of_row()
        return cls(table.videos, offsets, offsets[video_of], rows_of_stream[video_of].astype(np.int64))

    @property
    def n_frames(self) -> int:
        return int(self.offsets[-1])

    def frames(self) -> np.ndarray:
        """int32 [N]: 1-based frame number of every row."""
        first = np.repeat(self.offsets[:-1], np.diff(self.offsets))
        return (np.arange(self.n_frames, dtype=np.int64) - first + 1).astype(np.int32)

    def fill(self, values: np.ndarray) -> np.ndarray:
        """Uncovered (all-NaN) rows take the nearest covered row of the same stream."""
        out = values.copy()
        for i in range(len(self.videos)):
            a, b = int(self.offsets[i]), int(self.offsets[i + 1])
            if b > a and np.isnan(out[a:b]).any():
                out[a:b] = fill_nearest(out[a:b])
        return out


def _window_rows(table: Table, layout: FrameLayout) -> tuple[np.ndarray, np.ndarray]:
    start = table.columns["start"].astype(np.int64)
    stop = np.minimum(table.columns["stop"].astype(np.int64), layout.window_rows)
    return start, stop


def interpolate(table: Table, layout: FrameLayout, steps: np.ndarray) -> np.ndarray:
    """float32 [N, C]: step values [K, S, C] spread to every frame of the split."""
    cols = table.columns
    k, s, c = steps.shape
    start, stop = _window_rows(table, layout)
    b0, b1, valid = bin_times(cols["begin"], cols["end"], s)
    centre = step_centres(b0, b1)
    width = int(max((stop - start).max(initial=1), 1))
    pos = start[:, None] + np.arange(width, dtype=np.int64)
    inside = pos < stop[:, None]
    t = pos / cols["fps"][:, None]
    n_valid = np.maximum(valid.sum(axis=1), 1)[:, None]
    # Valid steps are a prefix and their centres increase: count the centres at or before each time.
    after = ((centre[:, None, :] <= t[:, :, None]) & valid[:, None, :]).sum(axis=2)
    left = np.clip(after - 1, 0, n_valid - 1)
    right = np.clip(after, 0, n_valid - 1)
    rows = np.arange(k)[:, None]
    c_left, c_right = centre[rows, left], centre[rows, right]
    span = np.where(right > left, c_right - c_left, 1.0)
    frac = np.where(right > left, (t - c_left) / span, 0.0)[..., None]
    values = steps[rows, left] * (1 - frac) + steps[rows, right] * frac
    spread = stitch(layout.n_frames, layout.window_base + start, values, valid=inside)
    return layout.fill(spread)


def spread_steps(table: Table, layout: FrameLayout, steps: np.ndarray, block: int = 32) -> np.ndarray:
    """float32 [N, D]: each frame's mean over the step values [K, S, D] of the bins covering it."""
    cols = table.columns
    k, s, d = steps.shape
    start, stop = _window_rows(table, layout)
    b0, b1, valid = bin_times(cols["begin"], cols["end"], s)
    lo, hi = bin_rows(b0, b1, cols["fps"])
    lo = np.clip(lo, start[:, None], stop[:, None])
    hi = np.clip(hi, start[:, None], stop[:, None])
    keep = valid & (hi > lo)
    base = np.broadcast_to(layout.window_base[:, None], lo.shape)
    seg_lo, seg_hi = (base + lo)[keep], (base + hi)[keep]
    flat = steps[keep]
    out = np.empty((layout.n_frames, d), np.float32)
    for a in range(0, d, block):  # a block of channels at a time keeps the float64 copies small
        out[:, a:a + block] = expand_segments(layout.n_frames, seg_lo, seg_hi, flat[:, a:a + block])
    return layout.fill(out)

