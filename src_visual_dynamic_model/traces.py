"""VA traces of a few validation videos, prediction against truth, for the run report."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from abaw.metrics import va_score
from abaw.plots import plot_va_traces
from src_visual_dynamic_model.data import SplitData


def pick_videos(data: SplitData, count: int) -> np.ndarray:
    """`count` videos with labels, spread evenly over the split (deterministic)."""
    counts = np.concatenate([[0], np.cumsum(np.isfinite(data.labels).all(axis=1))])
    candidates = np.flatnonzero(counts[data.offsets[1:]] - counts[data.offsets[:-1]] > 1)
    if candidates.size <= count:
        return candidates
    return candidates[np.linspace(0, candidates.size - 1, count).round().astype(np.int64)]


def plot_traces(path: Path, data: SplitData, pred: np.ndarray, count: int = 4) -> Path:
    """One row per chosen video, valence and arousal side by side; titles carry the video's score."""
    traces = []
    for v in pick_videos(data, count):
        rows = data.rows(int(v))
        score = va_score(pred[rows], data.labels[rows])
        title = (f"{data.videos[v]} (CCC V {score['ccc_valence']:.3f}, A {score['ccc_arousal']:.3f})")
        traces.append((title, data.frames[rows], pred[rows], data.labels[rows]))
    return plot_va_traces(path, traces)
