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

from abaw.errors import AbawError
from abaw.manifest import Entry, read_manifest
from abaw.positions import Positions, split_positions
from abaw.windowed import FrameGrid, fill_rows
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
            why = ("is not recorded in the manifest (an interrupted extraction, or a cache from an older "
                   "version; extract redoes it)" if path.is_file() else "is missing")
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
