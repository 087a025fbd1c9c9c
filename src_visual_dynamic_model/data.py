"""The vectorised data pipeline: feature caches -> one array per split -> windows as array slices.

Per split, every frame position of every video (annotation lines for train/val, template rows for
test) gets its feature row once, at load time: the frame's own crop features, else those of the
nearest frame with a crop. A video without any crop gets zeros and `face = False`. Windows of all
videos are then just (video, start) pairs; a batch is a gather of [B, W] row indices.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path

import numpy as np
import torch

from abaw.errors import AbawError
from abaw.manifest import Entry, read_manifest
from abaw.positions import Positions, split_positions
from abaw.windows import nearest_index, windows_of
from src_visual_dynamic_model import cache
from src_visual_dynamic_model.config import VisualConfig, backbone_sha, features_dir

log = logging.getLogger("abaw.visual")


@dataclasses.dataclass
class SplitData:
    """One split in memory; rows of video i are `offsets[i]:offsets[i+1]`, sorted by frame."""

    split: str
    videos: np.ndarray
    offsets: np.ndarray
    frames: np.ndarray
    labels: np.ndarray
    features: np.ndarray
    face: np.ndarray
    template_rows: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        return int(self.offsets[-1])

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    def video_of_row(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.videos), dtype=np.int64), np.diff(self.offsets))

    def rows(self, i: int) -> slice:
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    @functools.cached_property
    def grid(self) -> FrameGrid:
        """The frame grid that windows and `time_delay` run on."""
        return FrameGrid.of(self.offsets, self.frames)


def check_entries(cfg: VisualConfig, split: str, videos: np.ndarray, source: str) -> dict[str, Entry]:
    """Every video needs a recorded cache made with this config's backbone; dimensions must agree."""
    folder = cache.split_dir(features_dir(cfg), split)
    entries = read_manifest(folder)
    if not cfg.extract.require_manifest:
        return entries
    sha = backbone_sha(cfg)
    for video in map(str, videos):
        entry = entries.get(video)
        path = cache.cache_path(features_dir(cfg), split, video)
        if entry is None:
            why = ("is not recorded in the manifest (an interrupted extraction)" if path.is_file()
                   else "is missing")
            raise AbawError(f"{path}: the feature cache of video {video!r} (named by {source}) {why}; run "
                            f"`src_visual_dynamic_model/main.py extract --config ...` for the {split} split")
        if entry.identity != sha:
            raise AbawError(f"{path}: extracted with backbone {entry.info.get('backbone')} "
                            f"(config {entry.identity}), "
                            f"but this config's [backbone] ({cfg.backbone.kind}) has config {sha}; rerun "
                            "extract or point extract.features at the caches of this backbone")
    dims = {entries[v].info.get("dim") for v in map(str, videos)}
    if len(dims) > 1:
        raise AbawError(f"{folder}: caches of different dimensions {sorted(dims)} in one split; "
                        "rerun extract")
    return entries


def fill_rows(positions: np.ndarray, cached: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted frame positions [n] and sorted cached frames [m]: the cache row to use for each
    position (its own crop, else the crop nearest in frame number, ties to the earlier) and whether it
    had its own crop. Crops of frames that are not positions (past the last annotation line, between
    sparse template rows) are candidates too: they are real faces of the same video."""
    if cached.size == 0 or positions.size == 0:
        return np.zeros(len(positions), np.int64), np.zeros(len(positions), bool)
    low = min(int(positions.min()), int(cached[0]))
    high = max(int(positions.max()), int(cached[-1]))
    has_crop = np.zeros(high - low + 1, bool)
    has_crop[cached.astype(np.int64) - low] = True
    nearest = nearest_index(has_crop)[positions.astype(np.int64) - low] + low
    return np.searchsorted(cached, nearest).astype(np.int64), nearest == positions


def only_video(pos: Positions, video: str) -> Positions:
    """The positions of one video of the split."""
    hits = np.flatnonzero(pos.videos == video)
    if not hits.size:
        raise AbawError(f"{pos.source}: video {video!r} is not in this split")
    rows = slice(int(pos.offsets[hits[0]]), int(pos.offsets[hits[0] + 1]))
    template_rows = None if pos.template_rows is None else pos.template_rows[rows]
    return Positions(pos.videos[hits], np.array([0, rows.stop - rows.start], np.int64), pos.frames[rows],
                     pos.labels[rows], template_rows, pos.source)


def load_split(cfg: VisualConfig, split: str, expect_dim: int | None = None,
               template: Path | None = None, video: str | None = None) -> SplitData:
    """Read the caches of a split into one [N, D] float32 array with the nearest fill.

    `template` replaces the configured test template (its videos' caches are read from the test folder);
    `video` restricts the split to that one video.
    """
    pos = split_positions(cfg.data, split, template)
    if video is not None:
        pos = only_video(pos, video)
    entries = check_entries(cfg, split, pos.videos, pos.source)
    features: np.ndarray | None = None
    face = np.zeros(len(pos.frames), bool)
    no_face = []
    for i, name in enumerate(map(str, pos.videos)):
        path = cache.cache_path(features_dir(cfg), split, name)
        frames, rows = cache.read_cache(path, name)
        entry = entries.get(name)
        recorded = None if entry is None else entry.info.get("frames")
        if entry is not None and cfg.extract.require_manifest and len(frames) != recorded:
            raise AbawError(f"{path}: holds {len(frames)} frames but the manifest recorded {recorded}; "
                            "the cache is truncated or stale, rerun extract")
        if features is None:
            dim = rows.shape[1]
            if expect_dim is not None and dim != expect_dim:
                raise AbawError(f"{path}: features are {dim}-d but the model expects {expect_dim}-d; the "
                                "checkpoint was trained on another backbone's features")
            features = np.zeros((len(pos.frames), dim), np.float32)
        elif rows.shape[1] != features.shape[1]:
            raise AbawError(f"{path}: {rows.shape[1]}-d features, other videos of {split} have "
                            f"{features.shape[1]}-d; all caches of a split must come from one backbone")
        s = slice(int(pos.offsets[i]), int(pos.offsets[i + 1]))
        source, face[s] = fill_rows(pos.frames[s], frames)
        if frames.size:
            np.take(rows.astype(np.float32, copy=False), source, axis=0, out=features[s])
        else:
            no_face.append(name)
    if no_face:
        log.warning("%s: %d video(s) have no face crop at any frame (zero features, flagged as missing): %s",
                    split, len(no_face), ", ".join(no_face[:5]) + (" ..." if len(no_face) > 5 else ""))
    if features is None:
        features = np.zeros((0, expect_dim or 0), np.float32)
    return SplitData(split, pos.videos, pos.offsets, pos.frames, pos.labels, features, face,
                     pos.template_rows)


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


def gather(windows: Windows, chosen: np.ndarray, window: int, features: np.ndarray,
           targets: np.ndarray | None = None, rows: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    """Batch of the windows `chosen` (on a frame grid): features [B,W,D], mask [B,W] and targets [B,W,2]
    (NaN = none). `rows` maps grid slots to feature rows (`FrameGrid.rows`; None when they coincide);
    `targets` are per slot."""
    index = windows.row[chosen, None] + np.arange(window)
    mask = np.arange(window) < windows.length[chosen, None]
    index = np.where(mask, index, windows.row[chosen, None])
    source = index if rows is None else rows[index]
    batch = {"features": torch.from_numpy(np.take(features, source, axis=0)), "mask": torch.from_numpy(mask)}
    if targets is not None:
        y = np.take(targets, index, axis=0)
        y[~mask] = np.nan
        batch["target"] = torch.from_numpy(y)
    return batch
