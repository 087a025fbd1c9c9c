"""RAAV inputs of one split: frame modalities on the split's frame grid and one sample per window.

The frame grid holds frames 1..n of every stream of the split (n = its annotation lines, or its last
template frame for test). Each frame modality is a `frames` table looked up once per grid frame
(`abaw.tables.lookup_rows`, nearest frame when absent); a frame is valid for the modality when the table
has that exact frame (and, for a table with a `face` column, a real face crop there). Embeddings stay in
the tables' own arrays and are gathered batch by batch, so memory is the tables plus a row index per frame.

Samples are the audio windows (their 4 step embeddings and predictions, and whether the window's audio
counts as reliable) or, without audio, fixed frame windows from `abaw.windows`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from abaw.errors import AbawError
from abaw.positions import Positions, split_positions
from abaw.tables import Table, lookup_rows, read_table, video_positions
from abaw.windows import windows_of
from src_audio_and_fusion.config import StageConfig
from src_audio_and_fusion.spread import FrameLayout, interpolate


@dataclass
class FrameModality:
    """One frame modality: its table's arrays and, per grid frame, the row to read and whether it is real."""

    name: str
    embedding: np.ndarray  # [R, D] as stored (float16 stays float16)
    prediction: np.ndarray  # float32 [R, 2]
    rows: np.ndarray  # int64 [G]
    valid: np.ndarray  # bool [G]

    @property
    def dim(self) -> int:
        return int(self.embedding.shape[1]) + 2


@dataclass
class AudioWindows:
    """The audio windows of a split, in sample order."""

    table: Table
    embedding: np.ndarray  # [K, S, D]
    prediction: np.ndarray  # float32 [K, S, 2]
    reliable: np.ndarray  # bool [K]: False removes the window's audio from the fusion

    @property
    def dim(self) -> int:
        return int(self.embedding.shape[2]) + 2

    @property
    def steps(self) -> int:
        return int(self.embedding.shape[1])


@dataclass
class FusionSplit:
    split: str
    positions: Positions  # the frames to predict (annotation lines, template rows)
    offsets: np.ndarray  # int64 [V+1]: grid rows of stream i
    labels: np.ndarray  # float32 [G, 2], NaN = none
    position_rows: np.ndarray  # int64 [P]: grid row of each position
    starts: np.ndarray  # int64 [K]: first grid row of each sample
    lengths: np.ndarray  # int64 [K]: frames in each sample
    modalities: list[FrameModality]
    audio: AudioWindows | None

    @property
    def n_samples(self) -> int:
        return len(self.starts)

    @property
    def n_frames(self) -> int:
        return int(self.offsets[-1])

    @property
    def width(self) -> int:
        return int(self.lengths.max(initial=1))

    @property
    def layout(self) -> FrameLayout:
        empty = np.zeros(0, np.int64)
        return FrameLayout(self.positions.videos, self.offsets, empty, empty)

    def sample_rows(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid rows int64 [B, W] of samples `idx` (padding repeats the first frame) and their mask [B, W]."""
        step = np.arange(self.width, dtype=np.int64)
        mask = step < self.lengths[idx, None]
        rows = np.where(mask, self.starts[idx, None] + step, self.starts[idx, None])
        return rows, mask

    def batch(self, idx: np.ndarray | list[int]) -> dict[str, torch.Tensor]:
        """Tensors of samples `idx`: per modality `x/<name>` [B, W, D+2], `valid` [B, W, M], `mask`,
        `target` [B, W, 2], and with audio `audio` [B, S, D+2] and `reliable` [B]."""
        idx = np.asarray(idx, np.int64)
        rows, mask = self.sample_rows(idx)
        out: dict[str, torch.Tensor] = {}
        valid = np.empty((*rows.shape, len(self.modalities)), bool)
        for m, mod in enumerate(self.modalities):
            table_rows = mod.rows[rows]
            x = np.concatenate([mod.embedding[table_rows].astype(np.float32), mod.prediction[table_rows]],
                               axis=-1)
            out[f"x/{mod.name}"] = torch.from_numpy(x)
            valid[..., m] = mod.valid[rows]
        # A frame no modality has keeps the nearest frames of all of them rather than nothing.
        valid |= ~valid.any(axis=-1, keepdims=True)
        out["valid"] = torch.from_numpy(valid)
        out["mask"] = torch.from_numpy(mask)
        target = np.where(mask[..., None], self.labels[rows], np.nan).astype(np.float32)
        out["target"] = torch.from_numpy(target)
        if self.audio is not None:
            a = self.audio
            out["audio"] = torch.from_numpy(np.concatenate([a.embedding[idx].astype(np.float32),
                                                            a.prediction[idx]], axis=-1))
            out["reliable"] = torch.from_numpy(a.reliable[idx])
        return out

    def labelled_samples(self) -> np.ndarray:
        """Samples with at least one labelled frame (the training samples)."""
        rows, mask = self.sample_rows(np.arange(self.n_samples))
        return np.flatnonzero((np.isfinite(self.labels[rows]).all(axis=-1) & mask).any(axis=1))

    def to_positions(self, grid_values: np.ndarray) -> np.ndarray:
        """Values per grid frame [G, C] -> values per position [P, C]."""
        return grid_values[self.position_rows]


def frame_grid(pos: Positions) -> tuple[np.ndarray, np.ndarray]:
    """Grid offsets int64 [V+1] (frames 1..last frame of each video) and the grid row of each position."""
    counts = np.diff(pos.offsets)
    last = np.zeros(len(counts), np.int64)
    present = counts > 0
    last[present] = np.maximum.reduceat(pos.frames.astype(np.int64), pos.offsets[:-1][present])
    offsets = np.concatenate([[0], np.cumsum(last)]).astype(np.int64)
    video_of = np.repeat(np.arange(len(counts)), counts)
    return offsets, offsets[video_of] + pos.frames.astype(np.int64) - 1


def _same_videos(found: np.ndarray, expected: np.ndarray, path: Path, split: str, source: str) -> None:
    missing = np.setdiff1d(expected, found)
    extra = np.setdiff1d(found, expected)
    if missing.size or extra.size:
        what = (f"lacks {missing.size} video(s) of the {split} split, e.g. {str(missing[0])!r}"
                if missing.size else
                f"has {extra.size} video(s) not in the {split} split, e.g. {str(extra[0])!r}")
        raise AbawError(f"{path}: {what} ({source}); export it again for the same split and annotations")


def _table_path(folder: Path, split: str, key: str) -> Path:
    path = folder / f"{split}.npz"
    if not path.is_file():
        raise AbawError(f"{path}: no {split} table for {key}; export that modality's {split} split first "
                        f"or fix {key}")
    return path


def _read_split_table(folder: Path, split: str, kind: str, key: str) -> tuple[Table, Path]:
    path = _table_path(folder, split, key)
    table = read_table(path, kind)
    found = table.meta.get("split")
    if found != split:
        raise AbawError(f"{path}: holds the {found!r} split but sits where the {split} table belongs; "
                        f"export the {split} split into {folder}")
    return table, path


def load_modality(name: str, folder: Path, split: str, pos: Positions, offsets: np.ndarray) -> FrameModality:
    table, path = _read_split_table(folder, split, "frames", f"fusion.tables ({name})")
    return modality_of(name, table, path, split, pos, offsets)


def modality_of(name: str, table: Table, path: Path, split: str, pos: Positions, offsets: np.ndarray
                ) -> FrameModality:
    """A frames table on the split's frame grid (`path` names it in errors)."""
    _same_videos(table.videos, pos.videos, path, split, pos.source)
    n = int(offsets[-1])
    videos = np.repeat(pos.videos, np.diff(offsets))
    frames = np.arange(n, dtype=np.int64) - np.repeat(offsets[:-1], np.diff(offsets)) + 1
    exact = lookup_rows(table, videos, frames)
    rows = lookup_rows(table, videos, frames, nearest=True)
    valid = exact >= 0
    if "face" in table.columns:
        valid &= table.columns["face"].astype(bool)[np.maximum(rows, 0)]
    prediction = table.columns["prediction"]
    if not np.isfinite(prediction).all():
        raise AbawError(f"{path}: column 'prediction' holds NaN or infinite values; export it again")
    return FrameModality(name, table.columns["embedding"], prediction, np.maximum(rows, 0), valid)


def load_audio(cfg: StageConfig, split: str, pos: Positions, offsets: np.ndarray
               ) -> tuple[AudioWindows, np.ndarray, np.ndarray]:
    """The audio windows and their first grid row and frame count, checked against the split's frames."""
    folder = cfg.fusion.audio
    assert folder is not None
    table, path = _read_split_table(folder, split, "windows", "fusion.audio")
    return audio_of(table, path, split, pos, offsets, cfg.fusion.reliability)


def audio_of(table: Table, path: Path, split: str, pos: Positions, offsets: np.ndarray, reliability: str
             ) -> tuple[AudioWindows, np.ndarray, np.ndarray]:
    """A windows table on the split's frame grid (`path` names it in errors)."""
    cols = table.columns
    need = [c for c in ("stream_rows", "reliable") if c not in cols]
    if need:
        raise AbawError(f"{path}: windows table without column(s) {need}; use the windows tables written by "
                        "`main.py export-audio` (<export>/windows)")
    _same_videos(table.videos, pos.videos, path, split, pos.source)
    grid_video = video_positions(Table("frames", pos.videos, pos.offsets, {}, {}), table.videos)
    video_of = table.video_of_row()
    frames = np.diff(offsets)[grid_video][video_of]
    bad = np.flatnonzero(cols["stream_rows"].astype(np.int64) != frames)
    if bad.size:
        k = int(bad[0])
        raise AbawError(f"{path}: the windows of {str(table.videos[video_of[k]])!r} cover "
                        f"{int(cols['stream_rows'][k])} frames but the {split} annotations give "
                        f"{int(frames[k])}; "
                        f"run `main.py windows --split {split}` and export-audio again")
    start = cols["start"].astype(np.int64)
    lengths = np.minimum(cols["stop"].astype(np.int64), frames) - start
    starts = offsets[:-1][grid_video][video_of] + start
    reliable = cols["reliable"].astype(bool)
    if reliability == "has_audio":
        reliable = cols["has_audio"].astype(bool) if "has_audio" in cols else np.ones_like(reliable)
    embedding, prediction = cols["embedding"], cols["prediction"]
    finite = np.isfinite(prediction).all(axis=(1, 2))
    if not finite[reliable].all():
        raise AbawError(f"{path}: a reliable window has NaN predictions; export the audio again")
    return AudioWindows(table, embedding, prediction, reliable), starts, lengths


def load_split(cfg: StageConfig, split: str) -> FusionSplit:
    f = cfg.fusion
    pos = split_positions(cfg.data, split)
    offsets, position_rows = frame_grid(pos)
    labels = np.full((int(offsets[-1]), 2), np.nan, np.float32)
    labels[position_rows] = pos.labels
    modalities = [load_modality(name, folder, split, pos, offsets)
                  for name, folder in zip(f.modalities, f.tables, strict=True)]
    audio = None
    if f.audio is not None:
        audio, starts, lengths = load_audio(cfg, split, pos, offsets)
    else:
        parts = [windows_of(int(n), f.window, f.hop) for n in np.diff(offsets)]
        starts = np.concatenate([s + base for (s, _), base in zip(parts, offsets[:-1], strict=True)]
                                + [np.zeros(0, np.int64)])
        lengths = np.concatenate([n for _, n in parts] + [np.zeros(0, np.int64)])
    keep = lengths > 0
    if audio is not None and not keep.all():
        audio = AudioWindows(audio.table, audio.embedding[keep], audio.prediction[keep], audio.reliable[keep])
    return FusionSplit(split, pos, offsets, labels, position_rows, starts[keep], lengths[keep], modalities,
                       audio)


def modality_predictions(data: FusionSplit) -> dict[str, np.ndarray]:
    """Each input's own prediction [P, 2] at the split's positions (audio: its steps spread to frames)."""
    out = {m.name: data.to_positions(m.prediction[m.rows]) for m in data.modalities}
    if data.audio is not None:
        table = data.audio.table
        layout = FrameLayout.of(table)
        spread = interpolate(table, layout, table.columns["prediction"])
        pos = data.positions
        video = video_positions(table, pos.videos)
        rows = np.repeat(layout.offsets[:-1][video], np.diff(pos.offsets)) + pos.frames.astype(np.int64) - 1
        out["audio"] = spread[rows]
    return out
