"""The windowed split pipeline of the sequence stages: rows -> frame grid -> windows -> batches -> frames.

A split is one array of rows per input (every frame position of every video, grouped by video and sorted
by frame), filled once at load time from the nearest available frame (`fill_rows`), or the rows of a table
as stored read through a per-position index (`IndexedRows`), so nothing is copied per frame. Windows, hops and
delays count frames, so they run on a `FrameGrid` with one slot per frame number. All windows of a split
are (video, start) pairs, a batch is one vectorised gather of [B, W] rows from every input array, and
`predict_stitched` runs every window through a model and averages overlapping outputs per frame, so every
frame of the split gets a prediction (coverage 100 %).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch.utils.data import Dataset

from abaw.errors import AbawError
from abaw.training import TrainConfig as LoopConfig
from abaw.windows import nearest_index, stitch, windows_of

log = logging.getLogger("abaw.windowed")


@dataclasses.dataclass(frozen=True)
class WindowedTrainConfig(LoopConfig):
    """The `[train]` keys of a stage on this pipeline: the shared loop's plus windows and the CCC weights."""

    window: int = 400
    hop_length: int = 150
    loss_weights: tuple[float, ...] = (0.5, 0.5)
    eval_batch_size: int = 32


def check_windowing(train: WindowedTrainConfig, source: str) -> None:
    """One error naming the `[train]` key and `source` (the config file) for a window setting that
    cannot work."""
    if train.window < 1:
        raise AbawError(f"{source}: train.window = {train.window}; it must be at least 1 frame")
    if not 1 <= train.hop_length <= train.window:
        raise AbawError(f"{source}: train.hop_length = {train.hop_length}; it must be between 1 and "
                        f"train.window = {train.window}, or frames between windows would never be seen")
    if len(train.loss_weights) != 2:
        raise AbawError(f"{source}: train.loss_weights needs two values (valence, arousal)")
    sizes = {"train.batch_size": train.batch_size, "train.eval_batch_size": train.eval_batch_size}
    for key, value in sizes.items():
        if value < 1:
            raise AbawError(f"{source}: {key} = {value}; it must be at least 1")


def fill_rows(positions: np.ndarray, cached: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted frame positions [n] and the sorted frames [m] a source has: the source row to use for
    each position (its own frame, else the nearest one, ties to the earlier) and whether it had its own.
    Source frames that are not positions (past the last annotation line, between sparse template rows)
    are candidates too: they belong to the same video."""
    if cached.size == 0 or positions.size == 0:
        return np.zeros(len(positions), np.int64), np.zeros(len(positions), bool)
    low = min(int(positions.min()), int(cached[0]))
    high = max(int(positions.max()), int(cached[-1]))
    has_crop = np.zeros(high - low + 1, bool)
    has_crop[cached.astype(np.int64) - low] = True
    nearest = nearest_index(has_crop)[positions.astype(np.int64) - low] + low
    return np.searchsorted(cached, nearest).astype(np.int64), nearest == positions


@dataclasses.dataclass(frozen=True)
class IndexedRows:
    """Rows held once as stored and read through an index: row r is `columns[c][index[r]]` for every
    column, side by side, and zeros where `index[r]` is -1.

    A split aligned to a table that lacks some of its frames (a modality on every other frame, a test
    template with gaps) keeps the table's arrays as read, in their stored dtype, plus 8 bytes a row,
    instead of a filled copy; a batch gathers through the index."""

    columns: tuple[np.ndarray, ...]
    index: np.ndarray  # int64 [N]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.index), sum(int(c.shape[1]) for c in self.columns)

    @property
    def nbytes(self) -> int:
        return self.index.nbytes + sum(c.nbytes for c in self.columns)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, rows) -> np.ndarray:
        """Rows [..., D] at any numpy index of the rows (int array, bool mask, slice); float16 columns
        stay float16 unless joined with a float32 one."""
        index = self.index[rows]
        absent = None if self.complete else index < 0
        take = index if absent is None else np.where(absent, 0, index)
        parts = []
        for values in self.columns:
            if len(values):
                # Indexing, not np.take: a column mapped from a file may be unaligned, and np.take would
                # first copy all of it.
                part = values[take]
                if absent is not None:
                    part[absent] = 0
            else:
                part = np.zeros((*index.shape, *values.shape[1:]), values.dtype)
            parts.append(part)
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)

    @functools.cached_property
    def complete(self) -> bool:
        """Whether every row has a source row (no zeros to write)."""
        return bool((self.index >= 0).all())


Rows = np.ndarray | IndexedRows


def take_rows(values: Rows, rows: np.ndarray) -> np.ndarray:
    """`values[rows]` for a plain row array or an `IndexedRows`."""
    return values[rows] if isinstance(values, IndexedRows) else np.take(values, rows, axis=0)


def shift_labels(labels: np.ndarray, offsets: np.ndarray, delay: int) -> np.ndarray:
    """Training targets on a frame grid: slot t learns the label of slot t + delay (same video, else NaN)."""
    if delay == 0:
        return labels
    video = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    source = np.arange(len(labels)) + delay
    inside = (source >= offsets[video]) & (source < offsets[video + 1])
    out = np.full_like(labels, np.nan)
    out[inside] = labels[source[inside]]
    return out


def shift_back(values: np.ndarray, offsets: np.ndarray, delay: int) -> np.ndarray:
    """Inverse of `shift_labels` for outputs on a frame grid: slot u takes slot u - delay (edges held)."""
    if delay == 0:
        return values
    video = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    source = np.clip(np.arange(len(values)) - delay, offsets[video], offsets[video + 1] - 1)
    return values[source]


@dataclasses.dataclass(frozen=True)
class FrameGrid:
    """One slot for every frame number of a video, from its first row's frame to its last row's.

    Windows, hops and `time_delay` count frames, so they run on this grid rather than on the rows: a
    split that skips frames (a test template without every frame) keeps the timing the model was
    trained on. A slot without a row of its own reads the features of the row nearest in frame number.
    For a split without gaps (annotation files) slots and rows coincide.
    """

    offsets: np.ndarray  # int64 [V+1]: slots of video i are offsets[i]:offsets[i+1]
    rows: np.ndarray  # int64 [G]: the row whose features each slot reads
    slots: np.ndarray  # int64 [N]: the slot of each row

    @classmethod
    def of(cls, offsets: np.ndarray, frames: np.ndarray) -> FrameGrid:
        """The grid of rows grouped by video (`offsets`) with frame numbers sorted inside each video."""
        lengths = np.diff(offsets)
        video = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
        frames = frames.astype(np.int64)
        first = np.zeros(len(lengths), np.int64)
        spans = np.zeros(len(lengths), np.int64)
        present = lengths > 0
        first[present] = frames[offsets[:-1][present]]
        spans[present] = frames[offsets[1:][present] - 1] - first[present] + 1
        grid_offsets = np.concatenate([[0], np.cumsum(spans)]).astype(np.int64)
        slots = grid_offsets[:-1][video] + frames - first[video]
        if len(slots) == grid_offsets[-1]:
            identity = np.arange(len(slots), dtype=np.int64)
            return cls(grid_offsets, identity, identity)
        has_row = np.zeros(int(grid_offsets[-1]), bool)
        has_row[slots] = True
        # Videos are contiguous on the grid and each starts and ends with a row, so the nearest slot
        # with a row never lies in another video.
        nearest = nearest_index(has_row)
        rows = np.searchsorted(slots, nearest).astype(np.int64)
        return cls(grid_offsets, rows, slots)

    @property
    def size(self) -> int:
        return int(self.offsets[-1])

    def shift_back(self, values: np.ndarray, delay: int) -> np.ndarray:
        """Row outputs [N, ...] moved `delay` frames later: a row takes the output at its frame - delay
        (of the row nearest to that frame; held at a video's ends)."""
        if delay == 0:
            return values
        return shift_back(values[self.rows], self.offsets, delay)[self.slots]

    def spread(self, values: np.ndarray) -> np.ndarray:
        """Row values [N, ...] on the grid [G, ...]; slots without a row of their own are NaN."""
        out = np.full((self.size, *values.shape[1:]), np.nan, np.float32)
        out[self.slots] = values
        return out


@dataclasses.dataclass(frozen=True)
class Windows:
    """All windows of a split: video position, first row (global) and number of real frames."""

    video: np.ndarray
    row: np.ndarray
    length: np.ndarray

    def __len__(self) -> int:
        return len(self.row)


def fit_window(window: int, offsets: np.ndarray) -> int:
    """`window`, or the longest video's length when every video is shorter.

    Exact, not an approximation: a video shorter than the window gets one padded window whose padding
    is masked, so padding past the longest video only costs memory (and a huge window, all of it)."""
    longest = int(np.diff(offsets).max(initial=0))
    return max(1, min(window, longest))


def make_windows(offsets: np.ndarray, window: int, hop: int) -> Windows:
    """Windows of `window` slots every `hop` slots plus an end-aligned one, for every video of a grid."""
    lengths = np.diff(offsets)
    parts = [windows_of(int(n), window, hop) for n in lengths]
    counts = np.array([len(s) for s, _ in parts], dtype=np.int64)
    starts = np.concatenate([s for s, _ in parts]) if parts else np.zeros(0, np.int64)
    video = np.repeat(np.arange(len(lengths), dtype=np.int64), counts)
    length = np.concatenate([n for _, n in parts]) if parts else np.zeros(0, np.int64)
    return Windows(video, offsets[:-1][video] + starts, length)


def gather(windows: Windows, chosen: np.ndarray, window: int, arrays: Mapping[str, Rows],
           targets: np.ndarray | None = None, rows: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    """Batch of the windows `chosen` (on a frame grid): each named row array as [B,W,...], mask [B,W] and
    targets [B,W,2] (NaN = none). `rows` maps grid slots to rows (`FrameGrid.rows`; None when they
    coincide); `targets` are per slot."""
    index = windows.row[chosen, None] + np.arange(window)
    mask = np.arange(window) < windows.length[chosen, None]
    index = np.where(mask, index, windows.row[chosen, None])
    source = index if rows is None else rows[index]
    batch = {name: torch.from_numpy(take_rows(values, source)) for name, values in arrays.items()}
    batch["mask"] = torch.from_numpy(mask)
    if targets is not None:
        y = np.take(targets, index, axis=0)
        y[~mask] = np.nan
        batch["target"] = torch.from_numpy(y)
    return batch


def labelled_windows(windows: Windows, targets: np.ndarray) -> Windows:
    """Only windows holding at least one labelled frame teach anything."""
    counts = np.concatenate([[0], np.cumsum(np.isfinite(targets).all(axis=1))])
    keep = counts[windows.row + windows.length] > counts[windows.row]
    return Windows(windows.video[keep], windows.row[keep], windows.length[keep])


def training_windows(grid: FrameGrid, labels: np.ndarray, window: int, hop: int, delay: int = 0
                     ) -> tuple[np.ndarray, int, Windows]:
    """What a split trains on: targets per grid slot (slot t learns the label `delay` frames later), the
    window length used (`fit_window`) and the windows holding at least one label."""
    targets = shift_labels(grid.spread(labels), grid.offsets, delay)
    fitted = fit_window(window, grid.offsets)
    if fitted < window:
        log.info("train.window = %d is longer than the longest train video; windows of %d frames are used, "
                 "which gives the same model (padding is masked) without the memory", window, fitted)
    return targets, fitted, labelled_windows(make_windows(grid.offsets, fitted, min(hop, fitted)), targets)


class WindowSet(Dataset):
    """Item i is window i; `collate` gathers a batch of windows at once (one vectorised take).

    Windows and `targets` are on a split's frame grid; `rows` maps its slots to rows (None when they
    coincide)."""

    def __init__(self, windows: Windows, arrays: Mapping[str, Rows], targets: np.ndarray, window: int,
                 rows: np.ndarray | None = None) -> None:
        self.windows, self.arrays, self.targets = windows, arrays, targets
        self.window, self.rows = window, rows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> int:
        return i

    def collate(self, items: list[int]) -> dict[str, torch.Tensor]:
        chosen = np.asarray(items, dtype=np.int64)
        return gather(self.windows, chosen, self.window, self.arrays, self.targets, self.rows)


# Windows per forward group: the stitched outputs of one group of videos are held at once.
GROUP_WINDOWS = 256


@torch.no_grad()
def predict_stitched(forward: Callable[[dict[str, torch.Tensor]], torch.Tensor], grid: FrameGrid,
                     arrays: Mapping[str, Rows], width: int, window: int, hop: int, batch_size: int,
                     delay: int = 0, weighting: str = "mean") -> np.ndarray:
    """float32 [N, width]: `forward(batch)` -> [B, W, width] over every window of the grid, overlapping
    outputs averaged per frame (`weighting`), moved `delay` frames later, read back at every row."""
    window = fit_window(window, grid.offsets)
    windows = make_windows(grid.offsets, window, min(hop, window))
    out = np.empty((grid.size, width), np.float32)
    n_videos = len(grid.offsets) - 1
    # Videos are processed in groups whose windows are run in batches, then stitched video by video.
    bounds = np.searchsorted(windows.video, np.arange(n_videos + 1))
    first = 0
    while first < n_videos:
        last = int(np.searchsorted(bounds, bounds[first] + GROUP_WINDOWS, side="right")) - 1
        last = max(last, first + 1)
        chosen = np.arange(bounds[first], bounds[last])
        values = np.empty((len(chosen), window, width), np.float32)
        for s in range(0, len(chosen), batch_size):
            batch = gather(windows, chosen[s:s + batch_size], window, arrays, rows=grid.rows)
            values[s:s + batch_size] = forward(batch).float().cpu().numpy()
        for v in range(first, last):
            k = slice(bounds[v] - bounds[first], bounds[v + 1] - bounds[first])
            start, stop = int(grid.offsets[v]), int(grid.offsets[v + 1])
            out[start:stop] = stitch(stop - start, windows.row[chosen[k]] - start, values[k], weighting)
        first = last
    return shift_back(out, grid.offsets, delay)[grid.slots]
