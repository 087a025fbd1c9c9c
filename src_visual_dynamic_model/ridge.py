"""Frame-wise ridge regression on the same features: the floor the temporal model has to beat.

Each frame is predicted from its own feature vector alone (closed-form ridge, penalty chosen on the
validation split), so the gap to the temporal model is what temporal context adds.
"""

from __future__ import annotations

import numpy as np

from abaw.metrics import va_score
from src_visual_dynamic_model.data import SplitData

PENALTIES = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)  # relative to the mean eigenvalue of the Gram matrix
MAX_ROWS = 200_000  # an evenly strided subset of the labelled train frames keeps the fit fast at scale


def _chunked_predict(features: np.ndarray, mean: np.ndarray, scale: np.ndarray, weights: np.ndarray,
                     bias: np.ndarray, chunk: int = 131072) -> np.ndarray:
    out = np.empty((len(features), weights.shape[1]), np.float32)
    for s in range(0, len(features), chunk):
        x = (features[s:s + chunk].astype(np.float64) - mean) / scale
        out[s:s + chunk] = x @ weights + bias
    return out


def ridge_baseline(train: SplitData, targets: np.ndarray, val: SplitData, delay: int = 0) -> dict[str, float]:
    """Fit on labelled train frames (targets [N,2] already shifted by `delay`); score val like the model."""
    labelled = np.flatnonzero(np.isfinite(targets).all(axis=1))
    if labelled.size > MAX_ROWS:
        labelled = labelled[np.linspace(0, labelled.size - 1, MAX_ROWS).astype(np.int64)]
    x = train.features[labelled].astype(np.float64)
    y = targets[labelled].astype(np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-8] = 1.0
    x = (x - mean) / scale
    y_mean = y.mean(axis=0)
    gram, cross = x.T @ x, x.T @ (y - y_mean)
    level = np.trace(gram) / len(gram)
    best: dict[str, float] | None = None
    for penalty in PENALTIES:
        weights = np.linalg.solve(gram + penalty * level * np.eye(len(gram)), cross)
        pred = val.grid.shift_back(_chunked_predict(val.features, mean, scale, weights, y_mean), delay)
        score = va_score(np.clip(pred, -1, 1), val.labels)
        if best is None or score["score"] > best["score"]:
            best = {**score, "penalty": penalty}
    assert best is not None
    return best
