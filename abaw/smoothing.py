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

`fit_smoothing` chooses a kernel per channel on labelled predictions. Exports share one option,
`export.smoothing` = "none" | "fit" | {method, size} (`SmoothingOption`), which `plan_smoothing` turns into
the kernels every split gets plus the validation scores that justify them (`SmoothingPlan`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from abaw.errors import AbawError
from abaw.metrics import VA_CHANNELS, ccc, va_score

METHODS = ("none", "moving_average", "gaussian", "ema")
DEFAULT_SIZES = (3, 5, 7, 9, 11, 15, 21, 31, 45, 61, 91)


def _filter(a: np.ndarray, method: str, size: int) -> np.ndarray:
    """The linear filter of `method` along the last axis of a float64 array (the default axis of each
    scipy filter), zero outside it."""
    # Imported here: scipy.signal takes a second to import, and configs load this module for its option.
    from scipy.ndimage import gaussian_filter1d, uniform_filter1d
    from scipy.signal import lfilter

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
    backward = lfilter([1.0], [1.0, -decay], a[..., ::-1])[..., ::-1]
    return forward + backward - a


def _smooth_rows(x: np.ndarray, method: str, size: int) -> np.ndarray:
    """Each row of x [V, L] smoothed on its own; NaN cells (gaps and padding) carry weight 0."""
    valid = ~np.isnan(x)
    if method == "none" or size == 1:
        return x.copy()
    summed = _filter(np.where(valid, x, 0.0), method, size)
    weight = _filter(valid.astype(np.float64), method, size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, summed / weight, np.nan)


class _Blocks:
    """Videos as rows of NaN-padded matrices, so that one filter call smooths many videos at once.

    Videos are sorted by length and cut into groups whose longest video is at most twice the shortest,
    so padding at most doubles the work, whatever the spread of lengths.
    """

    def __init__(self, offsets: np.ndarray) -> None:
        lengths = np.diff(offsets)
        video = np.repeat(np.arange(len(lengths)), lengths)
        self.position = np.arange(int(offsets[-1])) - offsets[:-1][video]
        order = np.argsort(lengths, kind="stable")
        order = order[lengths[order] > 0]
        group_of_video = np.full(len(lengths), -1)
        self.slot = np.zeros(len(lengths), np.int64)
        self.shapes: list[tuple[int, int]] = []
        start = 0
        while start < len(order):
            stop = int(np.searchsorted(lengths[order], 2 * lengths[order[start]], side="right"))
            members = order[start:stop]
            group_of_video[members] = len(self.shapes)
            self.slot[members] = np.arange(len(members))
            self.shapes.append((len(members), int(lengths[members].max())))
            start = stop
        group = group_of_video[video]
        self.rows = [np.flatnonzero(group == g) for g in range(len(self.shapes))]
        self.cells = [(self.slot[video[r]], self.position[r]) for r in self.rows]

    def split(self, x: np.ndarray) -> list[np.ndarray]:
        """x [N] as one NaN-padded matrix per group."""
        blocks = []
        for shape, rows, cells in zip(self.shapes, self.rows, self.cells, strict=True):
            block = np.full(shape, np.nan)
            block[cells] = x[rows]
            blocks.append(block)
        return blocks

    def join(self, blocks: list[np.ndarray], n: int) -> np.ndarray:
        """The inverse of `split`: float64 [n]."""
        out = np.empty(n)
        for block, rows, cells in zip(blocks, self.rows, self.cells, strict=True):
            out[rows] = block[cells]
        return out


class _BlockScorer:
    """The CCC of block-shaped predictions against one channel's labels, without gathering rows back.

    With labels centred over the labelled frames, cov = sum(x * y_centred) / n, so each candidate costs
    three sums over its blocks."""

    def __init__(self, blocks: _Blocks, label: np.ndarray) -> None:
        labelled = ~np.isnan(label)
        self.n = int(labelled.sum())
        self.mean = float(label[labelled].mean())
        centred = np.where(labelled, label - self.mean, 0.0)
        self.var = float(np.einsum("n,n->", centred, centred)) / self.n
        self.masks = [np.nan_to_num(b) > 0 for b in blocks.split(labelled.astype(np.float64))]
        self.centred = [np.nan_to_num(b) for b in blocks.split(centred)]

    def ccc(self, blocks: list[np.ndarray]) -> float:
        total = squares = cross = 0.0
        for block, mask, centred in zip(blocks, self.masks, self.centred, strict=True):
            x = np.where(mask, block, 0.0)
            # einsum, not BLAS: threaded BLAS dot products crawl on a busy machine for no gain here.
            total += float(x.sum())
            squares += float(np.einsum("ij,ij->", x, x))
            cross += float(np.einsum("ij,ij->", x, centred))
        mean = total / self.n
        denominator = squares / self.n - mean**2 + self.var + (mean - self.mean) ** 2
        return 0.0 if denominator <= 0.0 else 2.0 * (cross / self.n) / denominator


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
    out = data.copy()
    blocks = _Blocks(offsets)
    for c, (m, s) in enumerate(zip(methods, sizes, strict=True)):
        if m != "none" and s > 1:
            smoothed = [_smooth_rows(block, m, int(s)) for block in blocks.split(data[:, c])]
            out[:, c] = blocks.join(smoothed, len(data))
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
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise AbawError(f"fit_smoothing: unknown method {unknown[0]!r}; use one of {', '.join(METHODS)}")
    blocks = _Blocks(_check_offsets(offsets, len(pred)))
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
        split = blocks.split(pred[:, c].astype(np.float64))
        scorer = _BlockScorer(blocks, label[:, c].astype(np.float64))
        for method in methods:
            for size in sizes:
                score = scorer.ccc([_smooth_rows(block, method, int(size)) for block in split])
                if score > best["ccc_after"]:
                    best.update(method=method, size=int(size), ccc_after=score)
        result[name] = best
    return result


# ------------------------------------------------------------------------------------------ export option

OPTION_MODES = ("none", "fit")
KERNELS = METHODS[1:]


@dataclass(frozen=True)
class SmoothingOption:
    """The `export.smoothing` key of a stage config, in one of three TOML forms:

    - `"none"`: predictions are exported as the model made them;
    - `"fit"`: per channel, the kernel (method and size) maximising the validation CCC;
    - `{method = "gaussian", size = [9, 11]}`: a fixed kernel; `method` is one name or one per channel
      (moving_average, gaussian, ema) and `size` one whole number of frames or one per channel.

    Declare the field as `smoothing: SmoothingOption = SmoothingOption()` in a config dataclass; the
    config loader reads every form through `from_toml` and writes it back through `to_toml`.
    """

    mode: str = "none"  # none | fit | fixed
    methods: tuple[str, ...] = ()  # per channel, fixed mode only
    sizes: tuple[int, ...] = ()

    @classmethod
    def from_toml(cls, value: Any, where: str) -> SmoothingOption:
        """Parse a TOML value; `where` names the file and key in errors."""
        forms = ('"none", "fit" or a table like {method = "gaussian", size = [9, 11]} '
                 f"(methods: {', '.join(KERNELS)})")
        if isinstance(value, str):
            if value not in OPTION_MODES:
                raise AbawError(f"{where}: {value!r} is not a smoothing; use {forms}")
            return cls(mode=value)
        if not isinstance(value, dict) or set(value) != {"method", "size"}:
            raise AbawError(f"{where}: {value!r} is not a smoothing; use {forms}")
        methods, sizes = value["method"], value["size"]
        methods = [methods] * len(VA_CHANNELS) if isinstance(methods, str) else methods
        sizes = [sizes] * len(VA_CHANNELS) if isinstance(sizes, int) else sizes
        per_channel = isinstance(methods, list) and len(methods) == len(VA_CHANNELS)
        if not per_channel or not set(methods) <= set(KERNELS):
            raise AbawError(f"{where}: method {value['method']!r} must be one of {', '.join(KERNELS)}, "
                            f"or a list of one per channel ({', '.join(VA_CHANNELS)})")
        if (not isinstance(sizes, list) or len(sizes) != len(VA_CHANNELS)
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes)):
            raise AbawError(f"{where}: size {value['size']!r} must be a whole number of frames >= 1, "
                            f"or a list of one per channel ({', '.join(VA_CHANNELS)})")
        return cls(mode="fixed", methods=tuple(methods), sizes=tuple(sizes))

    def to_toml(self) -> str | dict:
        if self.mode != "fixed":
            return self.mode
        return {"method": list(self.methods), "size": list(self.sizes)}


@dataclass(frozen=True)
class Labelled:
    """One split: predictions [N, 2], labels [N, 2] (NaN = none), video i at rows offsets[i]:offsets[i+1]."""

    pred: np.ndarray
    label: np.ndarray
    offsets: np.ndarray


@dataclass(frozen=True)
class SmoothingPlan:
    """The kernels to apply to every exported split, and the validation scores that justify them."""

    methods: tuple[str, ...]
    sizes: tuple[int, ...]
    origin: str  # "none", "config" or "fitted on val"
    scores: dict[str, float] = field(default_factory=dict)  # what -> validation score (mean CCC)
    train_kernels: tuple[tuple[str, ...], tuple[int, ...]] | None = None  # fitted on train predictions

    @property
    def active(self) -> bool:
        return any(m != "none" and s > 1 for m, s in zip(self.methods, self.sizes, strict=True))

    def apply(self, pred: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """The predictions [N, 2] of one split smoothed per video; unchanged (a copy) when inactive."""
        if not self.active:
            return np.array(pred, copy=True)
        return smooth(pred, offsets, list(self.methods), list(self.sizes))

    def kernels(self) -> str:
        """`valence gaussian 9, arousal ema 11` (for messages and reports)."""
        return ", ".join(f"{name} {_kernel(m, s)}"
                         for name, m, s in zip(VA_CHANNELS, self.methods, self.sizes, strict=True))

    def report(self) -> list[str]:
        """Markdown lines: the kernels, where they come from, and each validation score."""
        lines = [f"- smoothing ({self.origin}): {self.kernels()}"]
        if self.train_kernels is not None:
            methods, sizes = self.train_kernels
            train = ", ".join(f"{name} {_kernel(m, s)}" for name, m, s in zip(VA_CHANNELS, methods, sizes,
                                                                                 strict=True))
            lines.append(f"- kernels fitted on the train predictions instead: {train}")
        lines += [f"- validation score, {what}: {score:.4f}" for what, score in self.scores.items()]
        if self.origin == FITTED_ON_VAL:
            lines.append("- the score with kernels fitted on val is optimistic (they were chosen on the "
                         "frames they are scored on); the score with kernels fitted on train is not")
        return lines

    def summary(self) -> dict[str, Any]:
        """JSON-able: methods, sizes, origin, scores and the train-fitted kernels."""
        out: dict[str, Any] = {"methods": list(self.methods), "sizes": list(self.sizes),
                               "origin": self.origin, "scores": dict(self.scores)}
        if self.train_kernels is not None:
            out["train_methods"], out["train_sizes"] = map(list, self.train_kernels)
        return out


FITTED_ON_VAL = "fitted on val"
RAW = "raw predictions"


def _kernel(method: str, size: int) -> str:
    return "none" if method == "none" or size == 1 else f"{method} {size}"


def _fitted(data: Labelled) -> tuple[tuple[str, ...], tuple[int, ...]]:
    choice = fit_smoothing(data.pred, data.label, data.offsets, methods=KERNELS)
    return tuple(c["method"] for c in choice.values()), tuple(c["size"] for c in choice.values())


def plan_smoothing(option: SmoothingOption, val: Labelled | None = None,
                   train: Labelled | None = None) -> SmoothingPlan:
    """The smoothing every split of an export gets, from the `export.smoothing` option.

    With "fit", the kernel of each channel is chosen on the validation predictions `val` (required), and,
    when `train` is given, also on the train predictions so that the plan can report the honest
    validation score of train-fitted kernels beside the optimistic val-fitted one. With a fixed kernel
    and `val`, the validation score before and after is reported. Usage in a stage's export:

        plan = plan_smoothing(cfg.export.smoothing, val=Labelled(pred, label, offsets), train=...)
        for split ...: prediction = plan.apply(prediction, offsets)    # before writing the table
        report += plan.report()                                         # markdown lines

    `val` and `train` may be left out for "none" (nothing is computed).
    """
    none = ("none",) * len(VA_CHANNELS), (1,) * len(VA_CHANNELS)
    if option.mode == "none":
        return SmoothingPlan(*none, origin="none")
    if option.mode == "fixed":
        plan = SmoothingPlan(option.methods, option.sizes, origin="config")
        train_kernels = None
    else:
        if val is None:
            raise AbawError('export.smoothing = "fit" needs the validation predictions; export the val split '
                            "or set a fixed kernel")
        plan = SmoothingPlan(*_fitted(val), origin=FITTED_ON_VAL)
        train_kernels = _fitted(train) if train is not None else None
    scores: dict[str, float] = {}
    if val is not None:
        scores[RAW] = va_score(val.pred, val.label)["score"]
        label = FITTED_ON_VAL + " (optimistic)" if plan.origin == FITTED_ON_VAL else "kernels from the config"
        scores[label] = va_score(plan.apply(val.pred, val.offsets), val.label)["score"]
        if train_kernels is not None:
            on_train = SmoothingPlan(*train_kernels, origin="fitted on train")
            scores["fitted on train"] = va_score(on_train.apply(val.pred, val.offsets), val.label)["score"]
    return SmoothingPlan(plan.methods, plan.sizes, plan.origin, scores, train_kernels)
