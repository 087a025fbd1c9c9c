"""Clip-wise ridge regression on the same input vectors: the floor the sequence model has to beat.

Each clip is predicted from its own vector alone, spread to frames and scored exactly like the model, so
the gap is what the sequence model adds. The penalty is chosen on the train split alone (held-out train
videos), so validation scores the baseline as untouched data, as it does the model's weights. The same
ridge is the read-out a model with `model.ridge_skip` builds on.
"""

from __future__ import annotations

import numpy as np

from abaw.metrics import va_score
from abaw.positions import Positions
from abaw.ridge import Ridge, cross_validated_penalty, fit_ridges
from src_behavior_model.data import ClipSplit, spread

FOLDS = 5  # train videos are held out in 5 groups to choose the penalty


def fit_clip_ridge(train: ClipSplit) -> Ridge:
    """The ridge on the labelled train clips, its penalty cross-validated over train videos."""
    labelled = np.isfinite(train.labels).all(axis=1)
    x, y = train.features[labelled], train.labels[labelled]
    penalty, _ = cross_validated_penalty(x, y, train.video_of_row()[labelled], FOLDS)
    (ridge,) = fit_ridges(x, y, (penalty,))
    return ridge


def ridge_baseline(train: ClipSplit, val: ClipSplit, val_positions: Positions) -> dict[str, float]:
    """The frame-level validation score of `fit_clip_ridge`, and its penalty."""
    ridge = fit_clip_ridge(train)
    pred = np.clip(ridge.predict(val.features), -1, 1)
    return {**va_score(spread(val, val_positions, pred), val_positions.labels), "penalty": ridge.penalty}
