"""Frame-wise ridge regression on the same features: the floor the temporal model has to beat.

Each frame is predicted from its own feature vector alone (closed-form ridge, penalty chosen on the
validation split), so the gap to the temporal model is what temporal context adds.
"""

from __future__ import annotations

import numpy as np

from abaw.metrics import va_score
from abaw.ridge import fit_ridges
from src_visual_dynamic_model.data import SplitData

MAX_ROWS = 200_000  # an evenly strided subset of the labelled train frames keeps the fit fast at scale


def ridge_baseline(train: SplitData, targets: np.ndarray, val: SplitData, delay: int = 0) -> dict[str, float]:
    """Fit on labelled train frames (targets [N,2] already shifted by `delay`); score val like the model."""
    labelled = np.flatnonzero(np.isfinite(targets).all(axis=1))
    if labelled.size > MAX_ROWS:
        labelled = labelled[np.linspace(0, labelled.size - 1, MAX_ROWS).astype(np.int64)]
    best: dict[str, float] | None = None
    for ridge in fit_ridges(train.features[labelled], targets[labelled]):
        pred = val.grid.shift_back(ridge.predict(val.features), delay)
        score = va_score(np.clip(pred, -1, 1), val.labels)
        if best is None or score["score"] > best["score"]:
            best = {**score, "penalty": ridge.penalty}
    assert best is not None
    return best
