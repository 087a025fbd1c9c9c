"""Figures saved as files with matplotlib's Agg renderer: no screen, no pyplot global state.

Figures are built with `matplotlib.figure.Figure` directly, so plotting from a training loop, a worker
thread or a headless job never opens a window, and `save_figure` writes atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from abaw.atomic import atomic_path

if TYPE_CHECKING:  # matplotlib takes about a second to import: only the commands that draw pay for it
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

VA_NAMES = ("valence", "arousal")
PREDICTION_COLOUR = "tab:blue"
LABEL_COLOUR = "tab:orange"


def new_figure(width: float, height: float) -> Figure:
    """An empty figure (inches) bound to the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Write `fig` to `path` atomically; the format comes from the suffix (.png, .pdf, .svg)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png", dpi=dpi)
    return path


def draw_ccc_distribution(ax: Axes, per_video: Mapping[str, np.ndarray],
                          title: str = "per-video CCC") -> None:
    """Box plot of per-video CCC values for each named series (e.g. valence, arousal), points overlaid.

    NaN entries (videos that could not be scored) are left out and the count of the rest is shown.
    """
    names = list(per_video)
    series = [np.asarray(per_video[name], dtype=np.float64) for name in names]
    series = [values[np.isfinite(values)] for values in series]
    positions = np.arange(1, len(names) + 1)
    if any(values.size for values in series):
        ax.boxplot([values if values.size else [np.nan] for values in series], positions=positions,
                   widths=0.5, showfliers=False)
    jitter = np.random.default_rng(0)  # fixed, so the same results draw the same picture
    for position, values in zip(positions, series, strict=True):
        ax.scatter(position + jitter.uniform(-0.15, 0.15, values.size), values, s=8, alpha=0.5)
    ax.axhline(0.0, color="grey", linewidth=0.8, linestyle=":")
    ticks = [f"{name}\n(n={values.size})" for name, values in zip(names, series, strict=True)]
    ax.set_xticks(positions, ticks)
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("CCC")
    ax.set_title(title)


def draw_va_traces(axes: Sequence[Axes], title: str, frames: np.ndarray, pred: np.ndarray,
                   label: np.ndarray) -> None:
    """Prediction against truth over frames: valence on `axes[0]`, arousal on `axes[1]`.

    NaN in `pred` or `label` (no prediction, no label) leaves a gap in that line.
    """
    frames = np.asarray(frames)
    pred = np.asarray(pred, dtype=np.float64).reshape(len(frames), 2)
    label = np.asarray(label, dtype=np.float64).reshape(len(frames), 2)
    for c, (ax, name) in enumerate(zip(axes, VA_NAMES, strict=True)):
        ax.plot(frames, pred[:, c], color=PREDICTION_COLOUR, linewidth=0.8, label="prediction")
        ax.plot(frames, label[:, c], color=LABEL_COLOUR, linewidth=1.2, label="truth")  # on top
        ax.set_ylim(-1.05, 1.05)
        ax.set_title(f"{title}: {name}", fontsize="medium")
        ax.set_xlabel("frame")
        ax.legend(loc="upper right", fontsize="small", framealpha=0.6)


def plot_va_traces(path: str | os.PathLike,
                   traces: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]]) -> Path:
    """One row per `(title, frames [N], pred [N,2], label [N,2])`, valence left and arousal right."""
    fig = new_figure(12.0, 2.4 * max(len(traces), 1))
    grid = fig.add_gridspec(max(len(traces), 1), 2)
    for row, (title, frames, pred, label) in enumerate(traces):
        draw_va_traces([fig.add_subplot(grid[row, c]) for c in range(2)], title, frames, pred, label)
    return save_figure(fig, path)


def plot_ccc_distribution(path: str | os.PathLike, per_video: Mapping[str, np.ndarray]) -> Path:
    """A figure holding only `draw_ccc_distribution`."""
    fig = new_figure(6.0, 4.0)
    draw_ccc_distribution(fig.add_subplot(), per_video)
    return save_figure(fig, path)
