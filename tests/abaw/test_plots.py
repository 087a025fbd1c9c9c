import numpy as np
import pytest

from abaw.plots import draw_va_traces, new_figure, plot_ccc_distribution, plot_va_traces, save_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def trace(n: int, seed: int):
    rng = np.random.default_rng(seed)
    label = rng.uniform(-1, 1, (n, 2))
    label[n // 3: n // 2] = np.nan  # unlabelled stretch: a gap, not an error
    pred = rng.uniform(-1, 1, (n, 2))
    pred[:5, 1] = np.nan
    return np.arange(1, n + 1), pred, label


def test_plot_va_traces_writes_one_png(tmp_path):
    traces = [("video_a", *trace(500, 0)), ("video_b", *trace(80, 1))]
    path = plot_va_traces(tmp_path / "sub" / "traces.png", traces)
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 10_000
    assert [p.name for p in path.parent.iterdir()] == ["traces.png"]


def test_draw_va_traces_plots_prediction_and_truth_per_dimension():
    fig = new_figure(8, 3)
    axes = [fig.add_subplot(1, 2, c + 1) for c in range(2)]
    frames, pred, label = trace(50, 2)
    draw_va_traces(axes, "v", frames, pred, label)
    for c, ax in enumerate(axes):
        lines = {line.get_label(): line for line in ax.get_lines()}
        np.testing.assert_array_equal(lines["prediction"].get_ydata(), pred[:, c])
        np.testing.assert_array_equal(lines["truth"].get_ydata(), label[:, c])
    assert axes[1].get_title() == "v: arousal"


def test_plot_ccc_distribution_skips_unscored_videos(tmp_path):
    path = plot_ccc_distribution(tmp_path / "ccc.png", {"valence": np.array([0.2, np.nan, 0.5]),
                                                        "arousal": np.array([np.nan, np.nan, np.nan])})
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_save_figure_failure_leaves_nothing(tmp_path):
    fig = new_figure(2, 2)
    fig.add_subplot().plot([0, 1], [0, 1])
    with pytest.raises(ValueError, match="not supported"):
        save_figure(fig, tmp_path / "figure.unknownformat")
    assert list(tmp_path.iterdir()) == []
    assert save_figure(fig, tmp_path / "figure.svg").read_text().lstrip().startswith("<?xml")
