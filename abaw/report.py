"""What a training run leaves to read: `metrics.csv` (one row per epoch), the training curves, `report.md`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from abaw.atomic import atomic_path, write_text


def read_metrics(path: str | Path) -> pd.DataFrame:
    """The metrics table of a run; empty when nothing was recorded yet."""
    path = Path(path)
    return pd.read_csv(path) if path.is_file() else pd.DataFrame()


def append_metrics(path: str | Path, row: Mapping[str, Any]) -> pd.DataFrame:
    """Add one epoch's row to `metrics.csv` (atomically) and return the whole table.

    A row for an epoch already present replaces it: a run resumed after a crash may redo that epoch.
    New columns are added; rows that lack them stay empty there.
    """
    frame = read_metrics(path)
    new = pd.DataFrame([dict(row)])
    if not frame.empty and "epoch" in frame and "epoch" in new:
        frame = frame[frame["epoch"] != row["epoch"]]
    frame = new if frame.empty else pd.concat([frame, new], ignore_index=True)
    if "epoch" in frame:
        frame = frame.sort_values("epoch", kind="stable", ignore_index=True)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return frame


def plot_curves(metrics: pd.DataFrame, path: str | Path, monitor: str, mode: str = "max") -> Path:
    """Two panels per epoch: the losses, and the monitored validation metric with its best epoch marked.

    `monitor` is a column of `metrics` (e.g. "val_score").
    """
    # matplotlib takes about a second to import: only the commands that draw pay for it
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax_loss, ax_metric = fig.subplots(1, 2)
    epochs = metrics["epoch"]
    for column in [c for c in ("train_loss", "val_loss") if c in metrics]:
        ax_loss.plot(epochs, metrics[column], marker="o", label=column)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    if ax_loss.lines:
        ax_loss.legend()
    if monitor in metrics and metrics[monitor].notna().any():
        values = metrics[monitor]
        ax_metric.plot(epochs, values, marker="o", color="tab:green", label=monitor)
        best = values.idxmax() if mode == "max" else values.idxmin()
        ax_metric.scatter([epochs[best]], [values[best]], s=120, facecolors="none", edgecolors="tab:red",
                          label=f"best {values[best]:.4f} (epoch {epochs[best]})", zorder=3)
        ax_metric.legend()
    ax_metric.set(xlabel="epoch", ylabel=monitor, title=f"validation {monitor.removeprefix('val_')}")
    for ax in (ax_loss, ax_metric):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return Path(path)


def write_report(path: str | Path, title: str, summary: Mapping[str, Any], metrics: pd.DataFrame,
                 images: tuple[str, ...] = ()) -> Path:
    """`report.md`: the summary as a table, the images (paths relative to it), the metrics per epoch."""
    lines = [f"# {title}", "", "| | |", "|---|---|"]
    lines += [f"| {key} | {_cell(value)} |" for key, value in summary.items()]
    for image in images:
        lines += ["", f"![{Path(image).stem}]({image})"]
    if not metrics.empty:
        lines += ["", "## Metrics per epoch", "", markdown_table(metrics)]
    return write_text(path, "\n".join(lines) + "\n")


def markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.4g}" if abs(value) < 1e-3 and value != 0 else f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)
