"""The 1 s targets of a window: which annotation rows each bin covers and the bin labels.

Bin i of a window `[t0, t1]` spans `b0 = t0 + i` to `b1 = min(t0 + i + 1, t1)` seconds and covers the
0-based annotation rows `floor(b0 * fps)` up to `ceil(b1 * fps)` (half-open, at least one row). A bin
starting at or after `t1` is empty. Its label is the per-channel mean of the labelled rows it covers.
"""

from __future__ import annotations

import numpy as np

from abaw.clips import TIME_TOLERANCE


def bin_times(begin: np.ndarray, end: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(b0, b1 float64 [K, S], valid bool [K, S]) of windows `[begin, end]` seconds."""
    b0 = np.asarray(begin, np.float64)[:, None] + np.arange(steps, dtype=np.float64)
    b1 = np.minimum(b0 + 1.0, np.asarray(end, np.float64)[:, None])
    return b0, b1, b0 < np.asarray(end, np.float64)[:, None] - TIME_TOLERANCE


def bin_rows(b0: np.ndarray, b1: np.ndarray, fps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi int64 [K, S]): rows `[lo, hi)` of each bin; `fps` [K] is each window's stream fps.

    The tolerance keeps a bin edge that is a whole frame in exact arithmetic (2 s at 30 fps) on that
    frame despite float rounding.
    """
    rate = np.asarray(fps, np.float64)[:, None]
    lo = np.floor(b0 * rate + TIME_TOLERANCE).astype(np.int64)
    hi = np.ceil(b1 * rate - TIME_TOLERANCE).astype(np.int64)
    return lo, np.maximum(hi, lo + 1)


def bin_labels(labels: np.ndarray, row_base: np.ndarray, n_rows: np.ndarray, lo: np.ndarray, hi: np.ndarray,
               valid: np.ndarray) -> np.ndarray:
    """float32 [K, S, 2]: mean labelled value of each bin's rows, NaN for empty or unlabelled bins.

    `labels` [N, 2] holds every stream's rows one after another (NaN = unlabelled); window k's stream
    starts at row `row_base[k]` and has `n_rows[k]` rows, so rows past the stream's end count as absent.
    """
    labels = np.asarray(labels, np.float64)
    base = np.asarray(row_base, np.int64)[:, None]
    n = np.asarray(n_rows, np.int64)[:, None]
    a = base + np.clip(lo, 0, n)
    b = base + np.clip(hi, 0, n)
    out = np.full((*lo.shape, labels.shape[1]), np.nan, np.float32)
    for c in range(labels.shape[1]):
        finite = np.isfinite(labels[:, c])
        total = np.concatenate([[0.0], np.cumsum(np.where(finite, labels[:, c], 0.0))])
        count = np.concatenate([[0], np.cumsum(finite, dtype=np.int64)])
        k = count[b] - count[a]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (total[b] - total[a]) / k
        out[..., c] = np.where(valid & (k > 0), mean, np.nan)
    return out


def step_centres(b0: np.ndarray, b1: np.ndarray) -> np.ndarray:
    """float64 [K, S]: the time each step's prediction stands for (its bin's midpoint)."""
    return (b0 + b1) / 2.0
