import math

import numpy as np
import pytest
import torch

from abaw.errors import AbawError
from abaw.metrics import ccc, ccc_torch, va_score


def loop_ccc(x, y):
    """Textbook CCC with plain Python loops, independent of numpy's reductions."""
    n = len(x)
    mean_x = math.fsum(x) / n
    mean_y = math.fsum(y) / n
    var_x = math.fsum((a - mean_x) ** 2 for a in x) / n
    var_y = math.fsum((b - mean_y) ** 2 for b in y) / n
    cov = math.fsum((a - mean_x) * (b - mean_y) for a, b in zip(x, y, strict=True)) / n
    return 2 * cov / (var_x + var_y + (mean_x - mean_y) ** 2)


@pytest.mark.parametrize("seed", range(5))
def test_ccc_matches_loop_reference(seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, 2000)
    y = 0.6 * x + rng.normal(0.2, 0.4, 2000)
    assert abs(ccc(x, y) - loop_ccc(x.tolist(), y.tolist())) < 1e-9


def test_ccc_uses_population_moments_and_penalises_bias():
    x = np.array([1.0, 2.0, 3.0])
    # Shifting by 1 leaves Pearson at 1; with population variance 2/3 the CCC is (4/3) / (4/3 + 1).
    assert ccc(x, x + 1) == pytest.approx((4 / 3) / (4 / 3 + 1), abs=1e-12)


def test_ccc_identical_constant_and_symmetric():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=500), rng.normal(size=500)
    assert ccc(x, x) == pytest.approx(1.0, abs=1e-12)
    assert ccc(np.full(500, 0.3), y) == 0.0
    assert ccc(x, y) == pytest.approx(ccc(y, x), abs=1e-15)
    centred = x - x.mean()
    assert ccc(centred, -centred) == pytest.approx(-1.0, abs=1e-12)


def test_ccc_degenerate_equal_constants_is_zero():
    assert ccc(np.full(10, 0.5), np.full(10, 0.5)) == 0.0


def test_ccc_float32_input_is_computed_in_float64():
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, 10_000).astype(np.float32)
    y = (x + rng.normal(0, 0.3, x.size)).astype(np.float32)
    assert abs(ccc(x, y) - loop_ccc(x.astype(float).tolist(), y.astype(float).tolist())) < 1e-9


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [([1.0, 2.0], [1.0], "differ in length"), ([], [], "no values"), ([1.0, np.nan], [1.0, 2.0], "NaN")],
)
def test_ccc_bad_inputs(x, y, message):
    with pytest.raises(AbawError, match=message):
        ccc(np.array(x), np.array(y))


def test_va_score_ignores_nan_labels_per_channel():
    rng = np.random.default_rng(3)
    label = rng.uniform(-1, 1, (300, 2)).astype(np.float32)
    pred = (label + rng.normal(0, 0.3, label.shape)).astype(np.float32)
    label[:40, 0] = np.nan
    label[100:110, 1] = np.nan
    pred[:40, 0] = np.nan  # unlabelled frames may lack a prediction
    score = va_score(pred, label)
    valence = ccc(pred[40:, 0], label[40:, 0])
    keep = np.r_[0:100, 110:300]
    arousal = ccc(pred[keep, 1], label[keep, 1])
    expected = {"ccc_valence": valence, "ccc_arousal": arousal, "score": (valence + arousal) / 2}
    assert score == pytest.approx(expected, abs=1e-12)


def test_va_score_refuses_missing_prediction_on_labelled_frame():
    label = np.zeros((5, 2), np.float32) + np.arange(5)[:, None]
    pred = label.copy()
    pred[3, 1] = np.nan
    message = r"1 labelled frames have a NaN/inf arousal prediction \(first rows \[3\]\)"
    with pytest.raises(AbawError, match=message):
        va_score(pred, label)


def test_va_score_shape_errors():
    with pytest.raises(AbawError, match="must both be"):
        va_score(np.zeros((4, 2)), np.zeros((5, 2)))
    with pytest.raises(AbawError, match="no labelled frame for valence"):
        va_score(np.zeros((4, 2)), np.full((4, 2), np.nan))


def test_ccc_torch_matches_numpy_and_masks():
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (3, 200))
    y = x + rng.normal(0, 0.5, x.shape)
    mask = rng.random(x.shape) > 0.3
    y_nan = np.where(mask, y, np.nan)
    got = ccc_torch(torch.tensor(x), torch.tensor(y_nan), torch.tensor(mask))
    assert got.shape == (3,)
    for b in range(3):
        assert got[b].item() == pytest.approx(ccc(x[b, mask[b]], y[b, mask[b]]), abs=1e-12)
    along_0 = ccc_torch(torch.tensor(x.T, dtype=torch.float16), torch.tensor(y.T, dtype=torch.float16), dim=0)
    assert along_0.dtype == torch.float32
    assert along_0[0].item() == pytest.approx(ccc(x[0], y[0]), abs=2e-3)


def test_ccc_torch_degenerate_slices_are_zero_with_finite_grads():
    x = torch.tensor([[0.5, 0.5, 0.5], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], requires_grad=True)
    y = torch.tensor([[0.5, 0.5, 0.5], [0.2, 0.2, 0.2], [np.nan, np.nan, np.nan]])
    mask = torch.tensor([[True, True, True], [True, False, False], [False, False, False]])
    value = ccc_torch(x, y, mask)
    assert torch.equal(value, torch.zeros(3))
    value.sum().backward()
    assert torch.isfinite(x.grad).all()
