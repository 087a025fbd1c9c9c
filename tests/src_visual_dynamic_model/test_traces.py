import numpy as np

from src_visual_dynamic_model.data import SplitData
from src_visual_dynamic_model.traces import pick_videos, plot_traces


def split(lengths, unlabelled=()):
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    n = int(offsets[-1])
    labels = np.tile(np.linspace(-0.5, 0.5, n, dtype=np.float32)[:, None], (1, 2))
    for v in unlabelled:
        labels[offsets[v]:offsets[v + 1]] = np.nan
    frames = np.concatenate([np.arange(1, k + 1) for k in lengths]).astype(np.int32)
    return SplitData("val", np.array([f"v{i}" for i in range(len(lengths))]), offsets, frames, labels,
                     np.zeros((n, 1), np.float32), np.ones(n, bool))


def test_videos_are_spread_and_labelled():
    data = split([5] * 10, unlabelled=(0,))
    assert pick_videos(data, 4).tolist() == [1, 4, 6, 9]
    assert pick_videos(split([5, 5], unlabelled=(1,)), 4).tolist() == [0]


def test_plot_writes_a_png(tmp_path):
    data = split([30, 40, 20])
    path = plot_traces(tmp_path / "traces.png", data, data.labels * 0.5, count=2)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
