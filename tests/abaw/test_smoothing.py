import numpy as np
import pytest

from abaw.errors import AbawError
from abaw.metrics import ccc, va_score
from abaw.smoothing import Labelled, SmoothingOption, fit_smoothing, plan_smoothing, smooth

METHODS = ["moving_average", "gaussian", "ema"]


@pytest.mark.parametrize("method", METHODS)
def test_smoothing_never_crosses_videos_and_keeps_edges(method):
    values = np.concatenate([np.zeros((30, 2)), np.ones((20, 2)), np.full((1, 2), -1.0)]).astype(np.float32)
    offsets = np.array([0, 30, 50, 51])
    out = smooth(values, offsets, method, 9)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, values, atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_nan_frames_stay_nan_and_do_not_pull_neighbours(method):
    values = np.full((40, 1), 0.5)
    values[[0, 10, 11, 39]] = np.nan
    out = smooth(values, np.array([0, 40]), method, 7)
    assert np.isnan(out[[0, 10, 11, 39], 0]).all()
    np.testing.assert_allclose(out[~np.isnan(values[:, 0])], 0.5, atol=1e-12)


def test_moving_average_matches_convolution_in_the_interior():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 1))
    out = smooth(x, np.array([0, 100]), "moving_average", 5)
    np.testing.assert_allclose(out[2:-2, 0], np.convolve(x[:, 0], np.ones(5) / 5, mode="valid"), atol=1e-12)
    # at the edge only the frames that exist are averaged
    assert out[0, 0] == pytest.approx(x[:3, 0].mean())


@pytest.mark.parametrize("size", [2, 4, 8])
def test_even_moving_average_is_centred(size):
    ramp = np.arange(40, dtype=np.float64)[:, None]
    out = smooth(ramp, np.array([0, 40]), "moving_average", size)
    inner = slice(size, 40 - size)  # away from the ends, a centred average leaves a ramp unchanged
    np.testing.assert_allclose(out[inner], ramp[inner], atol=1e-12)
    impulse = np.zeros((21, 1))
    impulse[10] = 1.0
    response = smooth(impulse, np.array([0, 21]), "moving_average", size)[:, 0]
    np.testing.assert_allclose(response, response[::-1], atol=1e-12)
    np.testing.assert_allclose(response.sum(), 1.0)


def test_ema_runs_both_ways_without_lag():
    x = np.zeros((61, 1))
    x[30] = 1.0
    out = smooth(x, np.array([0, 61]), "ema", 9)
    assert out[:, 0].argmax() == 30
    np.testing.assert_allclose(out[:30, 0], out[31:, 0][::-1], atol=1e-12)


def test_per_channel_methods_sizes_and_identity():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 2))
    offsets = np.array([0, 50])
    out = smooth(x, offsets, ["none", "gaussian"], [9, 9])
    np.testing.assert_array_equal(out[:, 0], x[:, 0])
    assert out[:, 1].std() < 0.8 * x[:, 1].std()
    for method in METHODS:
        np.testing.assert_allclose(smooth(x, offsets, method, 1), x, atol=1e-12)
    wide = smooth(x, offsets, "moving_average", [3, 15])
    np.testing.assert_allclose(wide[:, 0], smooth(x[:, :1], offsets, "moving_average", 3)[:, 0])
    np.testing.assert_allclose(wide[:, 1], smooth(x[:, 1:], offsets, "moving_average", 15)[:, 0])


@pytest.mark.parametrize(
    ("offsets", "method", "sizes", "message"),
    [
        ([0, 20], "moving_average", 3, "offsets must rise from 0"),
        ([0, 30, 20, 50], "moving_average", 3, "offsets must rise from 0"),
        ([0, 50], "median", 3, "unknown method"),
        ([0, 50], "gaussian", 0, "size must be"),
        ([0, 50], "gaussian", 2.5, "size must be"),
        ([0, 50], "ema", [3, 5, 7], "give one per channel"),
    ],
)
def test_bad_arguments(offsets, method, sizes, message):
    with pytest.raises(AbawError, match=message):
        smooth(np.zeros((50, 2)), np.array(offsets), method, sizes)


def trajectories(rng, videos=6, length=400):
    """Smooth random VA curves per video, like real annotations."""
    t = np.arange(length)
    curves = []
    for _ in range(videos):
        freq, phase = rng.uniform(0.005, 0.02, 2), rng.uniform(0, 6, 2)
        curves.append(0.6 * np.sin(2 * np.pi * freq[None] * t[:, None] + phase[None]))
    return np.concatenate(curves), np.arange(videos + 1) * length


def test_fit_picks_a_larger_kernel_for_noisier_predictions():
    rng = np.random.default_rng(2)
    label, offsets = trajectories(rng)
    pred = label + rng.normal(size=label.shape) * np.array([0.05, 0.6])
    label[:50] = np.nan  # unlabelled frames are ignored
    fit = fit_smoothing(pred, label, offsets, methods=("moving_average",))
    assert set(fit) == {"valence", "arousal"}
    assert fit["arousal"]["size"] > fit["valence"]["size"]
    for choice in fit.values():
        assert choice["ccc_after"] >= choice["ccc_before"]
    assert fit["arousal"]["ccc_after"] > fit["arousal"]["ccc_before"] + 0.1
    smoothed = smooth(pred, offsets, [c["method"] for c in fit.values()], [c["size"] for c in fit.values()])
    keep = ~np.isnan(label[:, 1])
    for c, choice in enumerate(fit.values()):
        assert choice["ccc_after"] == pytest.approx(ccc(smoothed[keep, c], label[keep, c]), abs=1e-9)
    corr = np.corrcoef(smoothed[keep, 1], label[keep, 1])[0, 1]
    assert corr > np.corrcoef(pred[keep, 1], label[keep, 1])[0, 1]


def test_fit_keeps_raw_predictions_when_nothing_helps():
    rng = np.random.default_rng(3)
    label = rng.normal(size=(300, 1))  # white noise: any smoothing hurts
    fit = fit_smoothing(label.copy(), label, np.array([0, 300]), names=("x",))
    assert fit["x"] == {"method": "none", "size": 1, "ccc_before": 1.0, "ccc_after": 1.0}


def test_fit_refuses_missing_predictions_on_labelled_frames():
    label = np.zeros((10, 2))
    pred = np.zeros((10, 2))
    pred[4, 0] = np.nan
    with pytest.raises(AbawError, match=r"1 labelled frames have a NaN/inf valence prediction"):
        fit_smoothing(pred, label, np.array([0, 10]))


# ------------------------------------------------------------------------------------------ export option


def _noisy_split(seed: int, videos: int = 6, length: int = 200, noise: float = 0.5) -> Labelled:
    """Smooth labels plus white noise: a split whose predictions gain from smoothing."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 25.0
    label = np.concatenate([np.stack([np.sin(t + v), np.cos(0.5 * t + v)], axis=1) * 0.6
                            for v in range(videos)])
    pred = label + rng.normal(0, noise, label.shape)
    label[::7] = np.nan  # unlabelled frames are still smoothed over
    return Labelled(pred.astype(np.float32), label.astype(np.float32), np.arange(videos + 1) * length)


@pytest.mark.parametrize(("value", "expected"), [
    ("none", SmoothingOption()),
    ("fit", SmoothingOption(mode="fit")),
    ({"method": "gaussian", "size": [9, 11]}, SmoothingOption("fixed", ("gaussian", "gaussian"), (9, 11))),
    ({"method": ["ema", "moving_average"], "size": 5},
     SmoothingOption("fixed", ("ema", "moving_average"), (5, 5))),
])
def test_option_forms_parse_and_write_back(value, expected):
    option = SmoothingOption.from_toml(value, "cfg.toml: export.smoothing")
    assert option == expected
    assert SmoothingOption.from_toml(option.to_toml(), "again") == option


@pytest.mark.parametrize("value", ["fitted", {"method": "box", "size": 3}, {"method": "ema", "size": [0, 3]},
                                   {"method": "ema"}, {"method": "ema", "size": [3, 3, 3]}, 7])
def test_bad_options_name_the_key(value):
    with pytest.raises(AbawError, match=r"^cfg.toml: export.smoothing: "):
        SmoothingOption.from_toml(value, "cfg.toml: export.smoothing")


def test_fit_chooses_on_val_and_reports_train_fitted_kernels():
    val, train = _noisy_split(0), _noisy_split(1)
    plan = plan_smoothing(SmoothingOption(mode="fit"), val=val, train=train)
    assert plan.active and plan.origin == "fitted on val" and plan.train_kernels is not None
    chosen = fit_smoothing(val.pred, val.label, val.offsets)
    assert plan.methods == tuple(c["method"] for c in chosen.values())
    assert plan.sizes == tuple(c["size"] for c in chosen.values())
    np.testing.assert_allclose(plan.apply(val.pred, val.offsets),
                               smooth(val.pred, val.offsets, list(plan.methods), list(plan.sizes)))
    scores = plan.scores
    optimistic = scores["fitted on val (optimistic)"]
    assert scores["raw predictions"] < scores["fitted on train"] <= optimistic
    assert optimistic == pytest.approx(va_score(plan.apply(val.pred, val.offsets), val.label)["score"])
    report = "\n".join(plan.report())
    assert "optimistic" in report and "fitted on the train predictions" in report


def test_fit_without_validation_predictions_is_an_error():
    with pytest.raises(AbawError, match="validation predictions"):
        plan_smoothing(SmoothingOption(mode="fit"))


def test_fixed_and_none_plans():
    val = _noisy_split(2)
    fixed = plan_smoothing(SmoothingOption("fixed", ("moving_average", "ema"), (9, 5)), val=val)
    np.testing.assert_allclose(fixed.apply(val.pred, val.offsets),
                               smooth(val.pred, val.offsets, ["moving_average", "ema"], [9, 5]))
    assert set(fixed.scores) == {"raw predictions", "kernels from the config"}
    none = plan_smoothing(SmoothingOption())
    assert not none.active and none.scores == {}
    np.testing.assert_array_equal(none.apply(val.pred, val.offsets), val.pred)


@pytest.mark.parametrize("method", METHODS)
def test_videos_of_very_different_lengths_smooth_as_if_alone(method):
    rng = np.random.default_rng(3)
    lengths = [1, 0, 2, 400, 7, 33, 150, 3]
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    values = rng.normal(size=(offsets[-1], 2))
    values[rng.random(offsets[-1]) < 0.1, 0] = np.nan
    together = smooth(values, offsets, method, [15, 5])
    for lo, hi in zip(offsets[:-1], offsets[1:], strict=True):
        alone = smooth(values[lo:hi], np.array([0, hi - lo]), method, [15, 5])
        np.testing.assert_allclose(together[lo:hi], alone, rtol=1e-12, atol=1e-12)
