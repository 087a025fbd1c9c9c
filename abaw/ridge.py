"""Closed-form ridge regression over standardised features: the linear floor every stage's model must beat.

One Gram matrix serves every penalty; penalties are relative to the mean eigenvalue of the Gram matrix so
that one list fits features of any width and scale. The caller picks the penalty either on its own
validation score, or without looking at validation with `cross_validated_penalty` (held-out groups of
train rows, e.g. whole videos).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from abaw.metrics import ccc

PENALTIES = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


@dataclasses.dataclass(frozen=True)
class Ridge:
    """A fitted linear map: `((x - mean) / scale) @ weights + bias`."""

    penalty: float
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: np.ndarray

    def predict(self, features: np.ndarray, chunk: int = 131072) -> np.ndarray:
        """float32 [N, outputs], computed in float64 chunk by chunk so large splits stay in memory."""
        out = np.empty((len(features), self.weights.shape[1]), np.float32)
        for s in range(0, len(features), chunk):
            x = (features[s:s + chunk].astype(np.float64) - self.mean) / self.scale
            out[s:s + chunk] = x @ self.weights + self.bias
        return out


def fit_ridges(features: np.ndarray, targets: np.ndarray, penalties: tuple[float, ...] = PENALTIES
               ) -> list[Ridge]:
    """One ridge per penalty fitted on rows features [N, D] -> targets [N, C] (all finite)."""
    x = features.astype(np.float64)
    y = targets.astype(np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-8] = 1.0
    x = (x - mean) / scale
    y_mean = y.mean(axis=0)
    gram, cross = x.T @ x, x.T @ (y - y_mean)
    level = max(np.trace(gram) / max(len(gram), 1), 1e-12)
    eye = np.eye(len(gram))
    return [Ridge(penalty, mean, scale, np.linalg.solve(gram + penalty * level * eye, cross), y_mean)
            for penalty in penalties]


def cross_validated_penalty(features: np.ndarray, targets: np.ndarray, groups: np.ndarray, folds: int = 5,
                            penalties: tuple[float, ...] = PENALTIES) -> tuple[float, dict[float, float]]:
    """The penalty whose out-of-fold predictions have the best mean CCC, and every penalty's CCC.

    Rows of one group (a video) are held out together, so neighbouring clips of a video never sit on
    both sides of a fold; groups go to folds round-robin in order of first appearance (a single group
    is cut into `folds` consecutive blocks). The CCC is taken once over all out-of-fold predictions,
    like the official score over a whole split.
    """
    names, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    if len(names) < 2:
        fold = np.arange(len(features)) * folds // max(len(features), 1)
    else:
        fold = np.argsort(np.argsort(first))[inverse] % min(folds, len(names))
    out = np.full((len(penalties), *targets.shape), np.nan)
    for f in np.unique(fold):
        held = fold == f
        for i, ridge in enumerate(fit_ridges(features[~held], targets[~held], penalties)):
            out[i, held] = ridge.predict(features[held])
    channels = range(targets.shape[1])
    scores = {penalty: float(np.mean([ccc(np.clip(o[:, c], -1, 1), targets[:, c]) for c in channels]))
              for penalty, o in zip(penalties, out, strict=True)}
    return max(scores, key=scores.__getitem__), scores
