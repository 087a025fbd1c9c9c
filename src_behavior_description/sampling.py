"""Frames of a clip for the model: which rows, decoded how, at what size.

A clip gets frames spread uniformly over it at `sampling.fps` (4 per second), between `min_frames` and
`max_frames`, always an even number (the model takes them in pairs) and never more than the clip has.
They are decoded straight from the source video with a seek to the first one, in DataLoader workers,
and resized under a pixel budget to sides that are multiples of 32 (16-pixel patches merged 2 x 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from torch.utils.data import DataLoader, Dataset

from src_behavior_description.config import SamplingConfig
from src_behavior_description.describer import Clip

SIDE = 32  # patch 16 x spatial merge 2


def frame_counts(start: np.ndarray, stop: np.ndarray, fps: np.ndarray, cfg: SamplingConfig) -> np.ndarray:
    """int64 [N]: frames sampled from each clip `[start, stop)` of a video at `fps` (0: too short)."""
    start, stop = np.asarray(start, np.int64), np.asarray(stop, np.int64)
    available = stop - start
    wanted = np.clip(np.rint((available / np.asarray(fps, np.float64)) * cfg.fps), cfg.min_frames,
                     cfg.max_frames).astype(np.int64)
    n = np.minimum(wanted, available)
    return n - n % 2


def sample_rows(start: int, stop: int, n: int) -> np.ndarray:
    """int64 [n]: the 0-based frame rows at the centres of n equal parts of `[start, stop)`."""
    return start + ((np.arange(n) + 0.5) * (stop - start) / n).astype(np.int64)


def fit_size(height: int, width: int, cfg: SamplingConfig) -> tuple[int, int]:
    """(height, width): multiples of 32 near the aspect ratio, with min_pixels <= area <= max_pixels."""
    h = max(SIDE, round(height / SIDE) * SIDE)
    w = max(SIDE, round(width / SIDE) * SIDE)
    if h * w > cfg.max_pixels:
        scale = math.sqrt(height * width / cfg.max_pixels)
        h = max(SIDE, math.floor(height / scale / SIDE) * SIDE)
        w = max(SIDE, math.floor(width / scale / SIDE) * SIDE)
    elif h * w < cfg.min_pixels:
        scale = math.sqrt(cfg.min_pixels / (height * width))
        h = math.ceil(height * scale / SIDE) * SIDE
        w = math.ceil(width * scale / SIDE) * SIDE
    return h, w


@dataclass
class ClipJob:
    """What a worker needs to read one clip."""

    key: int  # the caller's id of the clip
    path: str
    rows: np.ndarray  # int64, the frames to decode
    fps: float


@dataclass
class SampledClip:
    """A worker's answer: the clip ready for the model, or why it could not be read."""

    key: int
    clip: Clip | None
    error: str = ""


class VideoReader:
    """Decodes frames by row from one open video at a time; the capture stays open between clips."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.capture: cv2.VideoCapture | None = None

    def open(self, path: str) -> bool:
        if path != self.path:
            self.close()
            self.capture, self.path = cv2.VideoCapture(path), path
        return bool(self.capture.isOpened())

    def close(self) -> None:
        if self.capture is not None:
            self.capture.release()
        self.capture, self.path = None, None

    def read(self, path: str, rows: np.ndarray) -> tuple[list[np.ndarray], np.ndarray] | None:
        """BGR frames of `rows` (increasing) and a flag per row, None when the video cannot be opened;
        one seek to the first row, then grabs between rows."""
        if not self.open(path):
            return None
        ok = np.zeros(len(rows), bool)
        frames: list[np.ndarray] = []
        capture = self.capture
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(rows[0]))
        position = int(rows[0])
        for i, row in enumerate(rows):
            while position < row and capture.grab():
                position += 1
            good, image = capture.read() if position == row else (False, None)
            if not good:
                break  # past a damaged end: the remaining rows cannot be reached either
            position += 1
            frames.append(image)
            ok[i] = True
        return frames, ok


def to_clip(frames: list[np.ndarray], times: np.ndarray, cfg: SamplingConfig) -> Clip:
    """RGB uint8 [T, H, W, 3] at the budgeted size; T is made even by dropping the last frame if needed."""
    keep = len(frames) - len(frames) % 2
    height, width = frames[0].shape[:2]
    h, w = fit_size(height, width, cfg)
    shrink = h * w < height * width
    resized = [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
               for f in frames[:keep]]
    rgb = np.stack(resized)[..., ::-1]
    return Clip(frames=np.ascontiguousarray(rgb), times=np.asarray(times[:keep], np.float64))


class ClipDataset(Dataset):
    """Item i: `jobs[i]` decoded, sampled and resized (a `SampledClip`)."""

    def __init__(self, jobs: list[ClipJob], cfg: SamplingConfig) -> None:
        self.jobs, self.cfg = jobs, cfg
        self.reader = VideoReader()  # one per worker process (each gets its own copy)

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, i: int) -> SampledClip:
        job = self.jobs[i]
        if len(job.rows) < 2:
            return SampledClip(job.key, None, "the clip has fewer than 2 frames")
        read = self.reader.read(job.path, job.rows)
        if read is None:
            return SampledClip(job.key, None, f"{job.path}: cannot open the video")
        frames, ok = read
        if len(frames) < 2:
            return SampledClip(job.key, None, f"only {len(frames)} of {len(job.rows)} sampled frames "
                               f"(rows {int(job.rows[0])}..{int(job.rows[-1])}) could be decoded")
        return SampledClip(job.key, to_clip(frames, job.rows[ok] / job.fps, self.cfg))


def _as_is(item: SampledClip) -> SampledClip:
    return item


def clip_loader(jobs: list[ClipJob], cfg: SamplingConfig) -> DataLoader:
    """Clips in job order, decoded by `cfg.workers` processes (0: in this process)."""
    return DataLoader(ClipDataset(jobs, cfg), batch_size=None, shuffle=False, num_workers=cfg.workers,
                      collate_fn=_as_is, prefetch_factor=4 if cfg.workers else None)


def clip_jobs(path: Path, start: np.ndarray, stop: np.ndarray, fps: float, cfg: SamplingConfig,
              first_key: int = 0) -> list[ClipJob]:
    """The jobs of the clips `[start, stop)` of one video; keys count up from `first_key`."""
    counts = frame_counts(start, stop, np.full(len(start), fps), cfg)
    return [ClipJob(first_key + i, str(path), sample_rows(int(a), int(b), int(n)), float(fps))
            for i, (a, b, n) in enumerate(zip(start, stop, counts, strict=True))]
