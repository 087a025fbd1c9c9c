"""What the gate does: mean weight per expert and weights over time for a few videos."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from abaw.plots import new_figure, save_figure
from src_fusion_model.data import FusionSplit


def gate_means(experts: tuple[str, ...], gates: np.ndarray) -> dict[str, float]:
    """Mean gate weight of each expert over every frame."""
    means = gates.mean(axis=0) if len(gates) else np.zeros(len(experts))
    return {name: float(m) for name, m in zip(experts, means, strict=True)}


def plot_gates(path: Path, data: FusionSplit, gates: np.ndarray, experts: tuple[str, ...],
               videos: int) -> Path:
    """Stacked gate weights over frames for the first `videos` videos (one panel each)."""
    shown = max(1, min(videos, len(data.videos)))
    fig = new_figure(10, 2.2 * shown)
    axes = fig.subplots(shown, 1, squeeze=False)[:, 0]
    for i, ax in enumerate(axes):
        rows = slice(int(data.offsets[i]), int(data.offsets[i + 1]))
        ax.stackplot(data.frames[rows], gates[rows].T, labels=experts)
        ax.set_ylim(0, 1)
        ax.set_ylabel("gate weight")
        ax.set_title(str(data.videos[i]), fontsize=9)
    axes[-1].set_xlabel("frame")
    axes[0].legend(loc="upper right", fontsize=8)
    return save_figure(fig, path)
