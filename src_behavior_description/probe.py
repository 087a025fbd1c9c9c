"""`probe`: how much valence/arousal each pooled vector carries, before any sequence model is trained.

For every `embedding/<name>` column, a closed-form ridge regression is fitted on the labelled train
clips and scored (CCC against the clip labels) on the labelled validation clips; the penalty is picked
on validation from a fixed grid, as the face stage's frame-wise ridge does. A vector whose probe is near
0 carries no signal a linear read-out can find.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from abaw.errors import AbawError
from abaw.metrics import va_score
from abaw.tables import EMBEDDING_PREFIX, Table, read_table

PENALTIES = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)  # relative to the mean eigenvalue of the Gram matrix


def _labelled(table: Table, name: str) -> tuple[np.ndarray, np.ndarray]:
    x = table.columns[EMBEDDING_PREFIX + name].astype(np.float64)
    y = table.columns["label"].astype(np.float64)
    keep = np.isfinite(y).all(axis=1) & np.isfinite(x).all(axis=1)
    return x[keep], y[keep]


def ridge_probe(train: Table, val: Table, name: str) -> dict[str, float]:
    """Validation CCC of a ridge from vector `name` to the clip labels (best penalty of the grid)."""
    x, y = _labelled(train, name)
    xv, yv = _labelled(val, name)
    if not len(x) or not len(xv):
        raise AbawError(f"probe: {name}: no labelled clip with a finite vector in train or val")
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-8] = 1.0
    x, xv = (x - mean) / scale, (xv - mean) / scale
    y_mean = y.mean(axis=0)
    gram, cross = x.T @ x, x.T @ (y - y_mean)
    level = max(np.trace(gram) / len(gram), 1e-12)
    best: dict[str, float] | None = None
    for penalty in PENALTIES:
        weights = np.linalg.solve(gram + penalty * level * np.eye(len(gram)), cross)
        score = va_score(np.clip(xv @ weights + y_mean, -1, 1), yv)
        if best is None or score["score"] > best["score"]:
            best = {**score, "penalty": penalty}
    assert best is not None
    return best


def probe(folder: Path) -> dict[str, dict[str, float]]:
    """Ridge probes of every pooled vector of `<folder>/train.npz` scored on `<folder>/val.npz`."""
    tables = {}
    for split in ("train", "val"):
        path = folder / f"{split}.npz"
        if not path.is_file():
            raise AbawError(f"{path}: not found; run `describe --split {split}` first")
        tables[split] = read_table(path, "segments")
    columns = tables["train"].columns
    names = [c.removeprefix(EMBEDDING_PREFIX) for c in columns if c.startswith(EMBEDDING_PREFIX)]
    return {name: ridge_probe(tables["train"], tables["val"], name) for name in names}
