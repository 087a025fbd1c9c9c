"""A split for fusion: every modality's `frames` table aligned to the split's frame positions.

Positions are the annotation lines (train/val) or the template rows (test). Each modality contributes
one float32 row per position, read from its own frame or, where it has none, from its nearest frame of
the same video, and a validity flag that is True only where the modality has the frame itself (and, for
tables with a boolean `face` column, where that is True). The rows then feed the shared windowed
pipeline (`abaw.windowed`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path

import numpy as np

from abaw.errors import AbawError
from abaw.positions import Positions, split_positions
from abaw.tables import lookup_rows, read_table
from abaw.windowed import FrameGrid
from src_fusion_model.config import FusionConfig, Modality

log = logging.getLogger("abaw.fusion")


@dataclasses.dataclass
class FusionSplit:
    """One split in memory: positions plus `inputs[name]` [N, D] and `valid[name]` [N] per modality."""

    split: str
    positions: Positions
    inputs: dict[str, np.ndarray]
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

    def arrays(self) -> dict[str, np.ndarray]:
        """The row arrays a batch gathers: `x/<name>` inputs and `v/<name>` validity flags."""
        return {**{f"x/{k}": v for k, v in self.inputs.items()},
                **{f"v/{k}": v for k, v in self.valid.items()}}


def table_path(modality: Modality, split: str) -> Path:
    return modality.frames / f"{split}.npz"


def read_modality(modality: Modality, split: str, pos: Positions) -> tuple[np.ndarray, np.ndarray]:
    """The modality's input rows [N, D] (float16 or float32, as stored) at the positions and their validity
    bool [N]."""
    path = table_path(modality, split)
    if not path.is_file():
        raise AbawError(f"{path}: no {split} table for modality {modality.name!r}; export that stage's "
                        f"{split} split into {modality.frames}")
    table = read_table(path, kind="frames")
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
        columns.append("embedding")
    if modality.input in ("prediction", "both"):
        columns.append("prediction")
    videos = np.repeat(pos.videos, np.diff(pos.offsets))
    rows = lookup_rows(table, videos, pos.frames, nearest=True)
    exact = lookup_rows(table, videos, pos.frames) >= 0
    missing = rows < 0
    if missing.any():
        absent = sorted(set(map(str, videos[missing])))
        log.warning("%s: %d video(s) of %s have no rows (zero input, flagged invalid): %s", modality.name,
                    len(absent), split, ", ".join(absent[:5]) + (" ..." if len(absent) > 5 else ""))
    take = np.where(missing, 0, rows)
    # One gather per column; float16 embeddings stay float16 (half the memory at Aff-Wild2 size), the
    # model computes in float32. A table without predictions holds NaN there: those read as 0.
    parts = []
    for c in columns:
        values = table.columns[c]
        part = values[take] if len(values) else np.zeros((len(take), values.shape[1]), values.dtype)
        parts.append(np.nan_to_num(part, nan=0.0) if c == "prediction" else part)
    out = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
    out[missing] = 0.0
    valid = exact & ~missing
    flag = table.columns.get("face")
    if flag is not None and flag.dtype == bool and flag.ndim == 1:
        valid &= flag[take]
    return out, valid


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
