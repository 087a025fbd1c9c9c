"""Fixed-length windows over a sequence and their way back: stitching, nearest fill, clip expansion.

A sequence of n frames is cut into windows of `window` frames every `hop` frames, plus one window
aligned on the last frame when the hop grid leaves a tail uncovered; a sequence not longer than one
window gets a single window at 0 that is padded and masked. Per-window outputs are stitched back to
one value per frame by a (weighted) mean over the windows covering it.
"""

from __future__ import annotations

import numpy as np

from abaw.errors import AbawError

WEIGHTINGS = ("mean", "centre", "gaussian")


def _check_window(window: int, hop: int) -> None:
    if window < 1:
        raise AbawError(f"windows: window must be at least 1 frame, got {window}")
    if not 1 <= hop <= window:
        raise AbawError(
            f"windows: hop must be between 1 and the window length {window}, got {hop}; "
            "a larger hop would leave frames between windows uncovered"
        )


def window_starts(n: int, window: int, hop: int) -> np.ndarray:
    """Start frames int64 [K]: 0, hop, 2*hop, ... while the window fits, then n - window if needed.

    n <= window gives [0] (one padded window); n == 0 gives no window.
    """
    _check_window(window, hop)
    if n < 0:
        raise AbawError(f"windows: sequence length must be >= 0, got {n}")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n <= window:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n - window + 1, hop, dtype=np.int64)
    if starts[-1] + window < n:
        starts = np.append(starts, np.int64(n - window))
    return starts


def windows_of(n: int, window: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Window starts int64 [K] and the number of real (unpadded) frames in each window int64 [K]."""
    starts = window_starts(n, window, hop)
    return starts, np.minimum(window, n - starts)


def window_index(starts: np.ndarray, window: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gather indices int64 [K, W] into a sequence of n frames and the mask bool [K, W] of real frames.

    Positions past the end are clipped to the last frame, so `features[index]` is always valid and
    `mask` tells the model which positions are padding.
    """
    positions = np.asarray(starts, dtype=np.int64)[:, None] + np.arange(window, dtype=np.int64)
    mask = (positions >= 0) & (positions < n)
    return np.clip(positions, 0, max(n - 1, 0)), mask


def window_weights(window: int, weighting: str = "mean") -> np.ndarray:
    """Per-position weights float64 [W] used by `stitch`; every weight is positive.

    "centre" is triangular (1 at both ends, rising to the middle), "gaussian" has sigma = W / 4,
    so frames near a window's centre, which saw more context, count more.
    """
    j = np.arange(window, dtype=np.float64)
    if weighting == "mean":
        return np.ones(window)
    if weighting == "centre":
        return np.minimum(j + 1.0, window - j)
    if weighting == "gaussian":
        sigma = window / 4.0
        return np.exp(-0.5 * ((j - (window - 1) / 2.0) / sigma) ** 2)
    raise AbawError(f"stitch: unknown weighting {weighting!r}; use one of {', '.join(WEIGHTINGS)}")


def stitch(
    n: int,
    starts: np.ndarray,
    values: np.ndarray,
    weighting: str = "mean",
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Per-frame weighted mean float32 [n, C] of window outputs values [K, W, C] starting at `starts`.

    Positions outside [0, n) (a window running past the end) and positions where `valid` [K, W] is
    False are ignored; frames no window covers are NaN.
    """
    values = np.asarray(values)
    starts = np.asarray(starts, dtype=np.int64)
    if values.ndim < 2 or values.shape[0] != starts.size:
        raise AbawError(f"stitch: values {values.shape} must be [K, W, ...] with K = {starts.size} windows")
    k, window = values.shape[:2]
    trailing = values.shape[2:]
    positions = starts[:, None] + np.arange(window, dtype=np.int64)
    keep = (positions >= 0) & (positions < n)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        if valid.shape != (k, window):
            raise AbawError(f"stitch: valid {valid.shape} must be [K, W] = {(k, window)}")
        keep &= valid
    weights = np.broadcast_to(window_weights(window, weighting), (k, window))[keep]
    at = positions[keep]
    # The channel count comes from the shape: with no kept position a -1 in the reshape is ambiguous.
    flat = values[keep].reshape(at.size, int(np.prod(trailing))).astype(np.float64)
    total = np.bincount(at, weights=weights, minlength=n)
    out = np.empty((n, flat.shape[1]), dtype=np.float32)
    for c in range(flat.shape[1]):
        summed = np.bincount(at, weights=weights * flat[:, c], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, c] = np.where(total > 0, summed / total, np.nan)
    return out.reshape((n, *trailing))


def nearest_index(available: np.ndarray) -> np.ndarray:
    """For each position, the index int64 [n] of the nearest available position (ties: the earlier).

    Raises AbawError when nothing is available, since there is then nothing to copy from.
    """
    available = np.asarray(available, dtype=bool)
    n = available.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if not available.any():
        raise AbawError("nearest_index: no position is available to take a value from")
    index = np.arange(n, dtype=np.int64)
    before = np.maximum.accumulate(np.where(available, index, -1))
    after = np.minimum.accumulate(np.where(available, index, n)[::-1])[::-1]
    take_before = (before >= 0) & ((after >= n) | (index - before <= after - index))
    return np.where(take_before, before, after)


def fill_nearest(values: np.ndarray) -> np.ndarray:
    """Copy of values [n, ...] where each all-NaN row takes the nearest NaN-free row.

    Rows that are only partly NaN are neither filled nor used as a source. Raises AbawError when
    no row is NaN-free.
    """
    values = np.asarray(values)
    if values.shape[0] == 0:
        return values.copy()
    nan = np.isnan(values).reshape(values.shape[0], -1)
    missing = nan.all(axis=1)
    if not missing.any():
        return values.copy()
    source = nearest_index(~nan.any(axis=1))
    rows = np.where(missing, source, np.arange(values.shape[0]))
    return values[rows]


def expand_segments(n: int, starts: np.ndarray, stops: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-frame float32 [n, C] mean of segment values [K, C] over half-open segments [start, stop).

    Segments are clipped to [0, n); frames no segment covers are NaN, and a NaN segment value
    does not count for its channel.
    """
    starts = np.asarray(starts, dtype=np.int64)
    stops = np.asarray(stops, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if starts.shape != stops.shape or starts.ndim != 1 or values.shape[:1] != starts.shape:
        raise AbawError(
            f"expand_segments: starts {starts.shape}, stops {stops.shape} and values {values.shape} "
            "must hold one entry per segment"
        )
    bad = np.flatnonzero(stops < starts)
    if bad.size:
        raise AbawError(f"expand_segments: segments {bad[:5].tolist()} stop before they start")
    trailing = values.shape[1:]
    values = values.reshape(starts.size, int(np.prod(trailing)))  # not -1: a video may have no segment
    lo, hi = np.clip(starts, 0, n), np.clip(stops, 0, n)
    # Difference arrays: +value at a segment's start and -value at its stop, summed by cumsum.
    at = np.concatenate([lo, hi])
    out = np.empty((n, values.shape[1]), dtype=np.float32)
    for c in range(values.shape[1]):
        finite = np.isfinite(values[:, c]).astype(np.float64)
        value = np.where(finite > 0, values[:, c], 0.0)
        summed = np.cumsum(np.bincount(at, weights=np.concatenate([value, -value]), minlength=n + 1)[:n])
        count = np.cumsum(np.bincount(at, weights=np.concatenate([finite, -finite]), minlength=n + 1)[:n])
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, c] = np.where(count > 0.5, summed / count, np.nan)
    return out.reshape((n, *trailing))
