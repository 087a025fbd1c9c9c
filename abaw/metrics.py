"""Concordance correlation coefficient (CCC), the official ABAW valence/arousal metric.

CCC = 2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2) with population moments (ddof=0),
computed once over all labelled frames of a split. Moments are taken around the means (two passes),
which stays accurate in float32 where E[x^2] - E[x]^2 would cancel.

Degenerate case: when the denominator is 0 (both inputs constant and equal, e.g. a constant
prediction that matches a constant label) the CCC is 0/0; it is defined as 0.0 here, as for any
constant prediction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from abaw.errors import AbawError

if TYPE_CHECKING:
    import torch

VA_CHANNELS = ("valence", "arousal")


def ccc(x: np.ndarray, y: np.ndarray) -> float:
    """CCC of two equally long finite 1-D series, in float64; 0.0 when the denominator is 0."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise AbawError(f"ccc: inputs differ in length ({x.size} vs {y.size}); pass one value per frame")
    if x.size == 0:
        raise AbawError("ccc: no values to score; at least one labelled frame is needed")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise AbawError("ccc: inputs contain NaN or inf; drop unlabelled frames before scoring")
    # Shifting each series by its first value makes a constant series exactly zero, so its
    # variance and covariance are exactly 0 instead of rounding noise.
    sx, sy = x - x[0], y - y[0]
    mean_sx, mean_sy = sx.mean(), sy.mean()
    dx, dy = sx - mean_sx, sy - mean_sy
    var_x, var_y, cov = np.dot(dx, dx) / x.size, np.dot(dy, dy) / y.size, np.dot(dx, dy) / x.size
    denominator = var_x + var_y + ((x[0] - y[0]) + (mean_sx - mean_sy)) ** 2
    if denominator == 0.0:
        return 0.0
    return float(2.0 * cov / denominator)


def va_score(pred: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """Official score of predictions [N,2] against labels [N,2] (NaN label = frame not scored).

    Returns {"ccc_valence", "ccc_arousal", "score"} where score is the mean of the two CCCs.
    Every labelled frame must have a finite prediction: a missing one is an error, never skipped,
    because the official evaluation scores every labelled frame.
    """
    pred = np.asarray(pred)
    label = np.asarray(label)
    if pred.ndim != 2 or pred.shape[1] != 2 or pred.shape != label.shape:
        raise AbawError(
            f"va_score: predictions {pred.shape} and labels {label.shape} must both be [N, 2] "
            "(valence, arousal) with the same N"
        )
    result = {}
    for c, name in enumerate(VA_CHANNELS):
        labelled = ~np.isnan(label[:, c])
        if not labelled.any():
            raise AbawError(f"va_score: no labelled frame for {name}; every label is NaN")
        missing = np.flatnonzero(labelled & ~np.isfinite(pred[:, c]))
        if missing.size:
            raise AbawError(
                f"va_score: {missing.size} labelled frames have a NaN/inf {name} prediction "
                f"(first rows {missing[:5].tolist()}); predict every labelled frame"
            )
        result[f"ccc_{name}"] = ccc(pred[labelled, c], label[labelled, c])
    result["score"] = (result["ccc_valence"] + result["ccc_arousal"]) / 2.0
    return result


def ccc_torch(
    x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None, dim: int = -1
) -> torch.Tensor:
    """Differentiable CCC along `dim`, over the elements where `mask` is True (all when None).

    Half-precision inputs are computed in float32. Masked-out positions never enter the arithmetic,
    so NaN there poisons neither the value nor the gradients. A slice whose denominator is below
    1e-12 (no valid element, or constant and equal values) gives 0 with finite gradients.
    """
    # Imported here so that numpy-only users of this module (evaluation, smoothing) start fast.
    import torch

    dtype = torch.promote_types(torch.promote_types(x.dtype, y.dtype), torch.float32)
    x, y = x.to(dtype), y.to(dtype)
    if mask is None:
        mask = torch.ones_like(x, dtype=torch.bool)
    mask = mask.to(torch.bool).expand(x.shape)
    zero = torch.zeros((), dtype=dtype, device=x.device)
    x = torch.where(mask, x, zero)
    y = torch.where(mask, y, zero)
    count = mask.sum(dim=dim, keepdim=True).to(dtype).clamp(min=1.0)
    mean_x = x.sum(dim=dim, keepdim=True) / count
    mean_y = y.sum(dim=dim, keepdim=True) / count
    dx = torch.where(mask, x - mean_x, zero)
    dy = torch.where(mask, y - mean_y, zero)
    var_x = (dx * dx).sum(dim=dim, keepdim=True) / count
    var_y = (dy * dy).sum(dim=dim, keepdim=True) / count
    cov = (dx * dy).sum(dim=dim, keepdim=True) / count
    denominator = var_x + var_y + (mean_x - mean_y) ** 2
    defined = denominator > 1e-12
    # The safe denominator keeps the unused branch of `where` finite, so gradients stay finite too.
    safe = torch.where(defined, denominator, torch.ones_like(denominator))
    value = torch.where(defined, 2.0 * cov / safe, zero)
    return value.squeeze(dim)
