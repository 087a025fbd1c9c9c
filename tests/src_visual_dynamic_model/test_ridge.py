import numpy as np

from abaw.windowed import shift_labels
from src_visual_dynamic_model.data import SplitData
from src_visual_dynamic_model.ridge import ridge_baseline


def linear_split(n, seed, noise=0.05):
    rng = np.random.default_rng(seed)
    labels = np.clip(rng.normal(0, 0.4, (n, 2)), -1, 1).astype(np.float32)
    mixing = np.random.default_rng(99).normal(size=(2, 6))
    features = (labels @ mixing + noise * rng.normal(size=(n, 6))).astype(np.float32)
    offsets = np.array([0, n // 2, n], np.int64)
    frames = np.concatenate([np.arange(1, n // 2 + 1), np.arange(1, n - n // 2 + 1)]).astype(np.int32)
    return SplitData("x", np.array(["a", "b"]), offsets, frames, labels, features, np.ones(n, bool))


def test_recovers_a_linear_relation():
    train, val = linear_split(2000, 0), linear_split(500, 1)
    result = ridge_baseline(train, train.labels, val)
    assert result["score"] > 0.95 and result["penalty"] > 0


def test_unlabelled_frames_are_ignored_and_delay_is_applied():
    train, val = linear_split(2000, 0), linear_split(500, 1)
    train.labels[::3] = np.nan
    assert ridge_baseline(train, train.labels, val)["score"] > 0.95
    # Labels that lag the features by 2 frames: fitted with the shifted targets, scored after shifting back.
    lagged = SplitData("x", val.videos, val.offsets, val.frames, shift_labels(val.labels, val.offsets, -2),
                       val.features, val.face)
    targets = shift_labels(shift_labels(train.labels, train.offsets, -2), train.offsets, 2)
    assert ridge_baseline(train, targets, lagged, delay=2)["score"] > 0.9
