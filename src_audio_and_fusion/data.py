"""Window samples read as slices of the per-video WAVs, padded to the window length with a mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from abaw.errors import AbawError
from abaw.tables import Table
from src_audio_and_fusion.augment import Augmenter
from src_audio_and_fusion.config import SAMPLE_RATE
from src_audio_and_fusion.wav import check_wav, read_samples, wav_path


class WindowReader:
    """Samples of the windows of one windows table; windows of videos without audio read as empty."""

    def __init__(self, table: Table, folder: Path, window_samples: int) -> None:
        self.table, self.window_samples = table, window_samples
        cols = table.columns
        video_of = table.video_of_row()
        self.paths = [wav_path(folder, str(v)) for v in table.videos]
        self.video_of = video_of
        self.first = np.rint(cols["begin"] * SAMPLE_RATE).astype(np.int64)
        last = np.rint(cols["end"] * SAMPLE_RATE).astype(np.int64)
        self.last = np.minimum(last, self.first + window_samples)
        self.has_audio = cols["has_audio"].astype(bool)
        for v in np.unique(video_of[self.has_audio]):
            path = self.paths[v]
            if not path.is_file():
                raise AbawError(f"{path}: WAV missing for video {table.videos[v]}; rerun extract-audio")
            check_wav(path)

    def __len__(self) -> int:
        return self.table.n_rows

    def samples(self, k: int) -> np.ndarray:
        """float32 real samples of window k (possibly fewer than the window when the audio ends early)."""
        if not self.has_audio[k]:
            return np.zeros(0, np.float32)
        return read_samples(self.paths[self.video_of[k]], int(self.first[k]), int(self.last[k]))

    def batch(self, rows: np.ndarray, augment: Augmenter | None = None) -> dict[str, torch.Tensor]:
        """wave float32 [B, L], mask bool [B, L] (real samples), target [B, S, 2], valid bool [B, S]."""
        wave = np.zeros((len(rows), self.window_samples), np.float32)
        mask = np.zeros((len(rows), self.window_samples), bool)
        for i, k in enumerate(rows):
            x = self.samples(int(k))
            if augment is not None and x.size:
                x = augment(x)
            wave[i, :x.size] = x
            mask[i, :x.size] = True
        label = self.table.columns["label"][rows]
        return {"wave": torch.from_numpy(wave), "mask": torch.from_numpy(mask),
                "target": torch.from_numpy(np.nan_to_num(label)),
                "valid": torch.from_numpy(np.isfinite(label).all(axis=2))}

    def global_scale(self, rows: np.ndarray, limit: int = 256, seed: int = 0) -> float:
        """The standard deviation of the real samples of (up to `limit` of) the given windows."""
        chosen = np.random.default_rng(seed).permutation(rows)[:limit]
        total = squares = count = 0.0
        for k in chosen:
            x = self.samples(int(k)).astype(np.float64)
            total, squares, count = total + x.sum(), squares + (x * x).sum(), count + x.size
        if count == 0:
            return 1.0
        mean = total / count
        return float(max(np.sqrt(max(squares / count - mean * mean, 0.0)), 1e-4))


class TrainWindows(Dataset):
    """Item i is training window `rows[i]`; `collate` reads and augments a batch of them."""

    def __init__(self, reader: WindowReader, rows: np.ndarray, augment: Augmenter | None) -> None:
        self.reader, self.rows, self.augment = reader, rows, augment

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> int:
        return int(self.rows[i])

    def collate(self, items: list[int]) -> dict[str, torch.Tensor]:
        return self.reader.batch(np.asarray(items, np.int64), self.augment)


def training_rows(table: Table, min_labelled: int, only_reliable: bool) -> np.ndarray:
    """Windows worth training on: at least `min_labelled` labelled steps (and reliable, when asked)."""
    cols = table.columns
    labelled = np.isfinite(cols["label"]).all(axis=2).sum(axis=1) >= min_labelled
    keep = labelled & cols["has_audio"].astype(bool)
    if only_reliable:
        keep &= cols["reliable"].astype(bool)
    return np.flatnonzero(keep)

