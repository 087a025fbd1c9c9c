import numpy as np

from src_behavior_model.data import ClipSplit
from src_behavior_model.train import feature_stats


def clips_of(features: np.ndarray) -> ClipSplit:
    n = len(features)
    return ClipSplit(
        "train",
        np.array(["v"]),
        np.array([0, n]),
        np.arange(n),
        np.arange(n) + 1,
        features.astype(np.float32),
        np.zeros((n, 2), np.float32),
        "test",
        (features.shape[1],),
    )


def test_whitened_train_vectors_have_identity_covariance():
    rng = np.random.default_rng(0)
    # Strongly correlated vectors: standardised, their covariance spans eigenvalues 0.005 to 2.8.
    mix = rng.normal(size=(6, 6)) * np.array([5.0, 2.0, 1.0, 1.0, 0.5, 0.5])[:, None]
    x = rng.normal(size=(4000, 6)) @ mix + 3.0
    mean, whiten = feature_stats(clips_of(x))
    z = (x - mean) @ whiten
    assert np.allclose(z.mean(axis=0), 0.0, atol=1e-3)
    eig = np.linalg.eigvalsh(np.cov(z.T, bias=True))
    assert eig.max() < 1 + 1e-9 and eig.min() > 0.8  # white, up to the eigenvalue floor


def test_a_constant_dimension_stays_finite_and_silent():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(size=(200, 3)), np.full((200, 1), 7.0)], axis=1)
    mean, whiten = feature_stats(clips_of(x))
    z = (x - mean) @ whiten
    assert np.isfinite(whiten).all()
    # The three varying directions come out white; the constant one is not blown up into noise.
    assert np.allclose(np.linalg.eigvalsh(np.cov(z.T, bias=True)), [0.0, 1.0, 1.0, 1.0], atol=0.01)
