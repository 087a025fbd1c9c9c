"""Clip-wise ridge regression on the same input vectors: the floor the sequence model has to beat.

Each clip is predicted from its own vector alone (penalty chosen on the validation score), spread to
frames and scored exactly like the model, so the gap is what the sequence model adds.
"""

from __future__ import annotations

import numpy as np

from abaw.metrics import va_score
from abaw.positions import Positions
from abaw.ridge import fit_ridges
from src_behavior_model.data import ClipSplit, spread


def ridge_baseline(train: ClipSplit, val: ClipSplit, val_positions: Positions) -> dict[str, float]:
    """Fit on the labelled train clips; the best penalty's frame-level validation score."""
    labelled = np.isfinite(train.labels).all(axis=1)
    best: dict[str, float] | None = None
    for ridge in fit_ridges(train.features[labelled], train.labels[labelled]):
        pred = np.clip(ridge.predict(val.features), -1, 1)
        score = va_score(spread(val, val_positions, pred), val_positions.labels)
        if best is None or score["score"] > best["score"]:
            best = {**score, "penalty": ridge.penalty}
    assert best is not None
    return best
