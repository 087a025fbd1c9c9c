"""`extract`: face crops -> per-video feature caches, resumable and shardable.

Crops are decoded and letterboxed in DataLoader workers; one batch may span several videos, and each
video's cache is written (atomically, then recorded in the manifest) as soon as its last crop is
encoded. Videos whose cache is recorded in the manifest with the same backbone config and the same crop
files (names, sizes, times), and reads back intact, are skipped: an interrupted run resumes where it
stopped, and re-aligned crops or a damaged cache are extracted again.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from abaw.affwild import index_split, read_template
from abaw.config import DataConfig
from abaw.errors import AbawError
from abaw.manifest import Manifest, Shard, files_fingerprint, shard_items
from src_visual_dynamic_model import cache
from src_visual_dynamic_model.backbones import FrameEncoder, letterbox, load_backbone, pick_device, to_input
from src_visual_dynamic_model.config import VisualConfig, backbone_sha, features_dir

log = logging.getLogger("abaw.visual")


def split_videos(data: DataConfig, split: str) -> np.ndarray:
    """Videos of a split: annotation files for train/val, the test template for test."""
    if split == "test":
        return read_template(data.test_template).videos
    return index_split(data.annotations, split).videos


@dataclasses.dataclass(frozen=True)
class CropLayout:
    """Where crops live: `root / pattern.format(video=..., frame=...)`; the file name part holds the frame."""

    root: Path
    pattern: str

    def folder(self, video: str) -> Path:
        head, _, _ = self.pattern.rpartition("/")
        return self.root / head.format(video=video) if head else self.root

    def path(self, video: str, frame: int) -> str:
        return os.path.join(self.root, self.pattern.format(video=video, frame=int(frame)))

    def frames(self, video: str) -> np.ndarray:
        """Sorted int32 frame numbers of the crops of `video` (empty when the folder is missing)."""
        _, _, name = self.pattern.rpartition("/")
        before, _, rest = name.partition("{frame")
        after = rest.partition("}")[2]
        regex = re.compile(re.escape(before.format(video=video)) + r"(\d+)"
                           + re.escape(after.format(video=video)))
        folder = self.folder(video)
        if not folder.is_dir():
            return np.zeros(0, dtype=np.int32)
        with os.scandir(folder) as entries:
            found = [int(m[1]) for e in entries if (m := regex.fullmatch(e.name))]
        return np.unique(np.asarray(found, dtype=np.int32))


class CropDataset(Dataset):
    """Item i: the letterboxed crop uint8 [S,S,3] (BGR) of (videos[video_idx[i]], frames[i]), a read flag."""

    def __init__(self, layout: CropLayout, videos: list[str], video_idx: np.ndarray, frames: np.ndarray,
                 size: int) -> None:
        self.layout, self.videos, self.size = layout, videos, size
        self.video_idx, self.frames = video_idx, frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> tuple[np.ndarray, bool]:
        image = cv2.imread(self.layout.path(self.videos[self.video_idx[i]], self.frames[i]), cv2.IMREAD_COLOR)
        if image is None:
            return np.zeros((self.size, self.size, 3), dtype=np.uint8), False
        return letterbox(image, self.size), True


class VideoWriter:
    """Collects encoded rows in dataset order and writes each video's cache once its rows are all in."""

    def __init__(self, features: Path, split: str, manifest: Manifest, videos: list[str],
                 frames: list[np.ndarray], inputs: list[str], encoder: FrameEncoder, dtype: str,
                 layout: CropLayout):
        self.features, self.split, self.videos, self.frames = features, split, videos, frames
        self.manifest, self.inputs = manifest, inputs
        self.encoder, self.dtype, self.layout = encoder, dtype, layout
        self.current = 0
        self.rows: list[np.ndarray] = []
        self.ok: list[np.ndarray] = []
        self.pending = 0
        self.unreadable = 0

    def add(self, rows: np.ndarray, ok: np.ndarray) -> None:
        self.rows.append(rows)
        self.ok.append(ok)
        self.pending += len(rows)
        while self.current < len(self.videos) and self.pending >= len(self.frames[self.current]):
            self._finish()

    def _finish(self) -> None:
        video, frames = self.videos[self.current], self.frames[self.current]
        rows, ok = np.concatenate(self.rows), np.concatenate(self.ok)
        n = len(frames)
        self.rows, self.ok, self.pending = [rows[n:]], [ok[n:]], len(rows) - n
        keep = ok[:n]
        if not keep.all():
            bad = frames[~keep]
            self.unreadable += bad.size
            log.warning("video %s: %d crop(s) could not be decoded and count as frames without a face "
                        "(first: %s)", video, bad.size, self.layout.path(video, bad[0]))
        self.write(video, frames[keep], rows[:n][keep], n, self.inputs[self.current])
        self.current += 1

    def write(self, video: str, frames: np.ndarray, rows: np.ndarray, crops: int, inputs: str) -> None:
        cache.write_cache(cache.cache_path(self.features, self.split, video), frames, rows, self.dtype)
        self.manifest.record(video, inputs, frames=int(len(frames)), crops=crops,
                             backbone=self.encoder.identity, dim=self.encoder.dim)


def up_to_date(manifest: Manifest, video: str, inputs: str, path: Path) -> bool:
    """A cache is reused only when it was made with this backbone config from these very crop files
    and reads back whole, with the rows its manifest line recorded."""
    if not manifest.is_done(video, inputs, [path]):
        return False
    try:
        frames, _ = cache.read_cache(path, video)
    except AbawError as exc:
        log.warning("%s; extracting video %s again", exc, video)
        return False
    return len(frames) == manifest.entries[video].info.get("frames")


def extract_split(cfg: VisualConfig, encoder: FrameEncoder, device: torch.device, split: str,
                  shard: Shard) -> dict[str, int]:
    """Extract the videos of one split that belong to `shard` and are not cached yet."""
    layout = CropLayout(cfg.data.cropped_aligned, cfg.extract.crop_pattern)
    if not layout.root.is_dir():
        raise AbawError(f"data.cropped_aligned = {layout.root}: folder not found; point it at the face crops")
    features, sha = features_dir(cfg), backbone_sha(cfg)
    videos = shard_items([str(v) for v in split_videos(cfg.data, split)], shard)
    crops = [layout.frames(v) for v in videos]
    if videos and not any(len(c) for c in crops):
        raise AbawError(f"{layout.root}: no face crops found for any {split} video (pattern "
                        f"{cfg.extract.crop_pattern!r}); check data.cropped_aligned and extract.crop_pattern")
    inputs = [files_fingerprint(layout.path(v, f) for f in c) for v, c in zip(videos, crops, strict=True)]
    manifest = cache.open_manifest(features, split, sha, shard)
    todo = [i for i, v in enumerate(videos)
            if not up_to_date(manifest, v, inputs[i], cache.cache_path(features, split, v))]
    writer = VideoWriter(features, split, manifest, [videos[i] for i in todo], [crops[i] for i in todo],
                         [inputs[i] for i in todo], encoder, cfg.extract.dtype, layout)
    empty = [videos[i] for i in todo if not len(crops[i])]
    for video in empty:
        log.warning("video %s: no face crops under %s; its frames get zero features flagged as missing",
                    video, layout.folder(video))
    counts = np.array([len(crops[i]) for i in todo], dtype=np.int64)
    dataset = CropDataset(layout, writer.videos, np.repeat(np.arange(len(todo), dtype=np.int32), counts),
                          np.concatenate([crops[i] for i in todo]) if todo else np.zeros(0, np.int32),
                          cfg.backbone.preprocess.size)
    writer.add(np.zeros((0, encoder.dim), np.float32), np.zeros(0, bool))  # writes leading empty videos
    if len(dataset):
        encode_all(cfg, encoder, device, dataset, writer, f"extract {split}")
    return {"videos": len(videos), "extracted": len(todo), "reused": len(videos) - len(todo),
            "crops": int(counts.sum()), "no_crops": len(empty), "unreadable": writer.unreadable}


def encode_all(cfg: VisualConfig, encoder: FrameEncoder, device: torch.device, dataset: CropDataset,
               writer: VideoWriter, desc: str) -> None:
    loader = DataLoader(dataset, batch_size=cfg.extract.batch_size, shuffle=False,
                        num_workers=cfg.extract.workers, pin_memory=device.type == "cuda",
                        persistent_workers=False)
    with torch.inference_mode(), tqdm(total=len(dataset), desc=desc, unit="crop") as bar:
        for images, ok in loader:
            x = to_input(images.to(device, non_blocking=True), cfg.backbone.preprocess)
            writer.add(encoder.encode(x).cpu().numpy(), ok.numpy())
            bar.update(len(ok))


def extract(cfg: VisualConfig, splits: tuple[str, ...], shard: Shard = (0, 1)) -> dict[str, dict]:
    """Extract every split in `splits` for this shard; returns per-split counts."""
    device = pick_device(cfg.extract.device)
    encoder = load_backbone(cfg.backbone, device)
    log.info("backbone %s: %d-d features on %s -> %s", encoder.identity, encoder.dim, device,
             features_dir(cfg))
    return {split: extract_split(cfg, encoder, device, split, shard) for split in splits}
