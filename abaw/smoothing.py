"""Temporal smoothing of per-frame predictions, one video at a time and one channel at a time.

Every method is a NaN-aware weighted average: NaN frames (and the frames beyond a video's ends)
carry weight 0 and the weights are renormalised, so the first and last frames of a video are
averaged over the frames that exist instead of being pulled towards zero, and smoothing never
crosses from one video into the next. NaN frames stay NaN.

`size` is in frames, and size 1 leaves values unchanged for every method:
- "moving_average": centred window of `size` frames; an even size spans size + 1 frames with half
  weight on the two end frames (the classic centred moving average), so no size shifts the output;
- "gaussian": gaussian of sigma = size / 6 truncated at +-(size // 2) frames;
- "ema": exponential moving average of span `size` (alpha = 2 / (size + 1)) made two-sided, i.e.
  the kernel (1 - alpha)^|j|, so it adds no lag.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d, uniform_filter1d
from scipy.signal import lfilter

from abaw.errors import AbawError
from abaw.metrics import VA_CHANNELS, ccc

METHODS = ("none", "moving_average", "gaussian", "ema")
DEFAULT_SIZES = (3, 5, 7, 9, 11, 15, 21, 31, 45, 61, 91)


def _filter(a: np.ndarray, method: str, size: int) -> np.ndarray:
    """The linear filter of `method` applied to a 1-D float64 array, zero outside it."""
    if method == "moving_average":
        box = uniform_filter1d(a, size, mode="constant", cval=0.0)
        if size % 2:
            return box
        # An even box is centred half a frame early (origin 0) or late (origin -1); their mean is centred.
        return 0.5 * (box + uniform_filter1d(a, size, mode="constant", cval=0.0, origin=-1))
    if method == "gaussian":
        return gaussian_filter1d(a, size / 6.0, mode="constant", cval=0.0, radius=size // 2)
    # Two-sided kernel r^|j| = causal pass + anti-causal pass - the centre counted twice; it is what
    # an EMA run forwards then backwards converges to, without depending on which pass runs first.
    decay = 1.0 - 2.0 / (size + 1.0)
    forward = lfilter([1.0], [1.0, -decay], a)
    backward = lfilter([1.0], [1.0, -decay], a[::-1])[::-1]
    return forward + backward - a


def _smooth_1d(x: np.ndarray, method: str, size: int) -> np.ndarray:
    valid = ~np.isnan(x)
    if method == "none" or size == 1 or not valid.any():
        return x.copy()
    summed = _filter(np.where(valid, x, 0.0), method, size)
    weight = _filter(valid.astype(np.float64), method, size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, summed / weight, np.nan)


def _per_channel(option, channels: int, what: str) -> list:
    if isinstance(option, str) or np.ndim(option) == 0:
        return [option] * channels
    option = list(option)
    if len(option) != channels:
        raise AbawError(f"smooth: {len(option)} {what} for {channels} channels; give one per channel")
    return option


def _check_offsets(offsets: np.ndarray, n: int) -> np.ndarray:
    offsets = np.asarray(offsets, dtype=np.int64)
    if (
        offsets.ndim != 1
        or offsets.size < 1
        or offsets[0] != 0
        or offsets[-1] != n
        or (np.diff(offsets) < 0).any()
    ):
        raise AbawError(
            f"smooth: offsets must rise from 0 to the number of rows {n} (one entry per video + 1)"
        )
    return offsets


def smooth(
    values: np.ndarray,
    offsets: np.ndarray,
    method: str | Sequence[str] = "moving_average",
    sizes: int | Sequence[int] = 9,
) -> np.ndarray:
    """Smoothed copy of values [N, C] whose video i holds rows offsets[i]:offsets[i+1].

    `method` and `sizes` are one value for every channel or one per channel.
    """
    values = np.asarray(values)
    if values.ndim != 2:
        raise AbawError(f"smooth: values {values.shape} must be [N, C]")
    offsets = _check_offsets(offsets, values.shape[0])
    methods = _per_channel(method, values.shape[1], "methods")
    sizes = _per_channel(sizes, values.shape[1], "sizes")
    for m, s in zip(methods, sizes, strict=True):
        if m not in METHODS:
            raise AbawError(f"smooth: unknown method {m!r}; use one of {', '.join(METHODS)}")
        if int(s) != s or s < 1:
            raise AbawError(f"smooth: size must be a whole number of frames >= 1, got {s}")
    data = values.astype(np.float64)
    out = np.empty_like(data)
    for lo, hi in zip(offsets[:-1], offsets[1:], strict=True):
        for c, (m, s) in enumerate(zip(methods, sizes, strict=True)):
            out[lo:hi, c] = _smooth_1d(data[lo:hi, c], m, int(s))
    return out.astype(np.result_type(values.dtype, np.float32))


def fit_smoothing(
    pred: np.ndarray,
    label: np.ndarray,
    offsets: np.ndarray,
    methods: Sequence[str] = ("moving_average", "gaussian", "ema"),
    sizes: Sequence[int] = DEFAULT_SIZES,
    names: Sequence[str] | None = None,
) -> dict[str, dict]:
    """Per channel, the (method, size) maximising CCC over labelled frames (NaN labels ignored).

    Returns {name: {"method", "size", "ccc_before", "ccc_after"}}; names default to valence/arousal
    for two channels. When no kernel beats the raw predictions the choice is {"method": "none",
    "size": 1}. Apply a choice with `smooth(pred, offsets, [c["method"] ...], [c["size"] ...])`.
    """
    pred = np.asarray(pred)
    label = np.asarray(label)
    if pred.ndim != 2 or pred.shape != label.shape:
        raise AbawError(
            f"fit_smoothing: predictions {pred.shape} and labels {label.shape} must both be [N, C]"
        )
    channels = pred.shape[1]
    if names is None:
        names = VA_CHANNELS if channels == 2 else tuple(str(c) for c in range(channels))
    if len(names) != channels:
        raise AbawError(f"fit_smoothing: {len(names)} names for {channels} channels")
    result = {}
    for c, name in enumerate(names):
        labelled = ~np.isnan(label[:, c])
        if not labelled.any():
            raise AbawError(f"fit_smoothing: no labelled frame for {name}")
        missing = np.flatnonzero(labelled & ~np.isfinite(pred[:, c]))
        if missing.size:
            raise AbawError(
                f"fit_smoothing: {missing.size} labelled frames have a NaN/inf {name} prediction "
                f"(first rows {missing[:5].tolist()}); fill them (e.g. windows.fill_nearest) first"
            )
        before = ccc(pred[labelled, c], label[labelled, c])
        best = {"method": "none", "size": 1, "ccc_before": before, "ccc_after": before}
        for method in methods:
            for size in sizes:
                smoothed = smooth(pred[:, c : c + 1], offsets, method, int(size))[labelled, 0]
                score = ccc(smoothed, label[labelled, c])
                if score > best["ccc_after"]:
                    best.update(method=method, size=int(size), ccc_after=score)
        result[name] = best
    return result
