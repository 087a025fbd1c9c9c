"""A split for fusion: every modality's `frames` table aligned to the split's frame positions.

Positions are the annotation lines (train/val) or the template rows (test). Each modality contributes
one row per position, read from its own frame or, where it has none, from its nearest frame of the
same video, and a validity flag that is True only where the modality has the frame itself (and, for
tables with a boolean `face` column, where that is True). The table's columns are kept as stored (mapped
from the file, float16 embeddings stay float16) and read through a row index per position
(`abaw.windowed.IndexedRows`), so a modality holding every other frame costs its own bytes, not a filled
copy; batches of the shared windowed pipeline (`abaw.windowed`) gather through that index.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path

import numpy as np

from abaw.errors import AbawError
from abaw.positions import Positions, split_positions
from abaw.tables import align_rows, read_table
from abaw.windowed import FrameGrid, IndexedRows, Rows
from src_fusion_model.config import FusionConfig, Modality

log = logging.getLogger("abaw.fusion")


@dataclasses.dataclass
class FusionSplit:
    """One split in memory: positions plus `inputs[name]` (rows [N, D]) and `valid[name]` [N] per modality."""

    split: str
    positions: Positions
    inputs: dict[str, IndexedRows]
    valid: dict[str, np.ndarray]

    @property
    def videos(self) -> np.ndarray:
        return self.positions.videos

    @property
    def offsets(self) -> np.ndarray:
        return self.positions.offsets

    @property
    def frames(self) -> np.ndarray:
        return self.positions.frames

    @property
    def labels(self) -> np.ndarray:
        return self.positions.labels

    @property
    def template_rows(self) -> np.ndarray | None:
        return self.positions.template_rows

    @property
    def n_frames(self) -> int:
        return int(self.positions.offsets[-1])

    @property
    def dims(self) -> dict[str, int]:
        return {name: int(x.shape[1]) for name, x in self.inputs.items()}

    @functools.cached_property
    def grid(self) -> FrameGrid:
        return FrameGrid.of(self.offsets, self.frames)

    @property
    def nbytes(self) -> int:
        """Bytes held for the modalities: their columns as read, row indices and validity flags."""
        return sum(x.nbytes for x in self.inputs.values()) + sum(v.nbytes for v in self.valid.values())

    def input_stats(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """float64 mean and std [D] of the modality's valid rows (of every row when none is valid)."""
        x, valid = self.inputs[name], self.valid[name]
        rows = x[valid if valid.any() else slice(None)]
        if len(rows) == 0:
            return np.zeros(x.shape[1]), np.ones(x.shape[1])
        return rows.mean(axis=0, dtype=np.float64), rows.std(axis=0, dtype=np.float64)

    def arrays(self) -> dict[str, Rows]:
        """The row arrays a batch gathers: `x/<name>` inputs and `v/<name>` validity flags."""
        return {**{f"x/{k}": v for k, v in self.inputs.items()},
                **{f"v/{k}": v for k, v in self.valid.items()}}


def table_path(modality: Modality, split: str) -> Path:
    return modality.frames / f"{split}.npz"


def read_modality(modality: Modality, split: str, pos: Positions) -> tuple[IndexedRows, np.ndarray]:
    """The modality's input rows at the positions (its columns as stored, through a row index) and their
    validity bool [N]."""
    path = table_path(modality, split)
    if not path.is_file():
        raise AbawError(f"{path}: no {split} table for modality {modality.name!r}; export that stage's "
                        f"{split} split into {modality.frames}")
    table = read_table(path, kind="frames", mmap=True)
    found = table.meta.get("split")
    if found != split:
        raise AbawError(f"{path}: holds the {found!r} split, but modality {modality.name!r} needs its "
                        f"{split!r} table here; point [modalities.{modality.name}] frames at the right "
                        "export")
    columns = []
    if modality.input in ("embedding", "both"):
        if table.columns["embedding"].shape[1] == 0:
            raise AbawError(f"{path}: has no embedding column; set [modalities.{modality.name}] "
                            "input = \"prediction\"")
        columns.append(table.columns["embedding"])
    if modality.input in ("prediction", "both"):
        # A table without predictions holds NaN there: those read as 0 (a copy of 8 bytes a table row).
        columns.append(np.nan_to_num(table.columns["prediction"], nan=0.0))
    rows, exact = align_rows(table, pos.videos, pos.offsets, pos.frames)
    missing = rows < 0
    if missing.any():
        absent = sorted(set(map(str, np.repeat(pos.videos, np.diff(pos.offsets))[missing])))
        log.warning("%s: %d video(s) of %s have no rows (zero input, flagged invalid): %s", modality.name,
                    len(absent), split, ", ".join(absent[:5]) + (" ..." if len(absent) > 5 else ""))
    valid = exact
    flag = table.columns.get("face")
    if flag is not None and flag.dtype == bool and flag.ndim == 1 and len(flag):
        valid &= flag[np.maximum(rows, 0)]
    return IndexedRows(tuple(columns), rows), valid


def load_split(cfg: FusionConfig, split: str, expect_dims: dict[str, int] | None = None,
               template: Path | None = None) -> FusionSplit:
    """Every configured modality aligned to the split's positions; `expect_dims` (from training) must
    match, so a modality exported with another embedding size is caught before the model sees it."""
    pos = split_positions(cfg.data, split, template)
    inputs, valid = {}, {}
    for modality in cfg.modalities.items:
        x, ok = read_modality(modality, split, pos)
        want = None if expect_dims is None else expect_dims.get(modality.name)
        if want is not None and x.shape[1] != want:
            raise AbawError(f"{table_path(modality, split)}: modality {modality.name!r} gives {x.shape[1]}-d "
                            f"inputs, but its train table (and the model) have {want}-d; export every split "
                            "of that stage from the same model")
        inputs[modality.name], valid[modality.name] = x, ok
    return FusionSplit(split, pos, inputs, valid)
