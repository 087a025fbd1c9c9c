"""Qwen3-VL video inputs built with numpy alone (the library's video processor needs torchvision).

A clip's frames become `pixel_values_videos` rows and a `video_grid_thw` entry laid out exactly as
the Qwen3-VL video processor lays them out, and the prompt text that stands for the video: for each
temporal pair of frames its timestamp, then one `<|video_pad|>` per merged 2x2 patch block between
`<|vision_start|>` and `<|vision_end|>`. Frames must already be resized (sides multiple of
patch x merge); resizing belongs to the frame sampler, which knows the pixel budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEXT, IMAGE, VIDEO = 0, 1, 2  # the model's mm_token_type_ids codes


@dataclass(frozen=True)
class VideoLayout:
    """Geometry and normalisation of the vision tower (read from the checkpoint's configs)."""

    patch: int = 16
    temporal: int = 2
    merge: int = 2
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    rescale: float = 1.0 / 255.0

    @property
    def side_factor(self) -> int:
        """Frame sides must be multiples of this (one merged block of patches)."""
        return self.patch * self.merge


def check_frames(frames: np.ndarray, layout: VideoLayout) -> None:
    """Raise ValueError unless `frames` is uint8 [T,H,W,3] with T a positive multiple of the temporal
    patch and H, W multiples of patch x merge."""
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {list(frames.shape)}")
    t, h, w = frames.shape[:3]
    if t == 0 or t % layout.temporal:
        raise ValueError(f"a clip needs a positive multiple of {layout.temporal} frames, got {t}")
    if h % layout.side_factor or w % layout.side_factor or h == 0 or w == 0:
        raise ValueError(f"frame sides must be multiples of {layout.side_factor}, got {h}x{w}")


def grid_thw(frames_shape: tuple[int, ...], layout: VideoLayout) -> tuple[int, int, int]:
    """(temporal groups, patch rows, patch columns) of a clip of shape [T,H,W,3]."""
    t, h, w = frames_shape[:3]
    return t // layout.temporal, h // layout.patch, w // layout.patch


def pixel_values(frames: np.ndarray, layout: VideoLayout) -> np.ndarray:
    """uint8 [T,H,W,3] -> float32 [T/2 * H/16 * W/16, 3*2*16*16], the processor's patch order.

    Rows run over (temporal group, block row, block column, row in block, column in block); each row
    is one patch flattened as (channel, frame in pair, y, x). Normalisation is the processor's fused
    form (x - mean/rescale) / (std/rescale) in float32, so values agree bit for bit.
    """
    check_frames(frames, layout)
    scale = np.float32(1.0 / layout.rescale)
    mean = np.asarray(layout.mean, dtype=np.float32) * scale
    std = np.asarray(layout.std, dtype=np.float32) * scale
    gt, gh, gw = grid_thw(frames.shape, layout)
    p, m, tp = layout.patch, layout.merge, layout.temporal
    # [T,H,W,C] -> (gt, tp, gh/m, m, p, gw/m, m, p, C); reordered as bytes, a quarter of the traffic
    x = frames.reshape(gt, tp, gh // m, m, p, gw // m, m, p, 3)
    x = np.ascontiguousarray(x.transpose(0, 2, 5, 3, 6, 8, 1, 4, 7)).reshape(gt * gh * gw, 3, tp * p * p)
    x = (x.astype(np.float32) - mean[:, None]) / std[:, None]
    return x.reshape(gt * gh * gw, 3 * tp * p * p)


def pair_timestamps(times: np.ndarray, temporal: int = 2) -> np.ndarray:
    """Timestamp of each temporal group: the mean of its first and last frame times, as the processor
    computes it."""
    groups = np.asarray(times, dtype=np.float64).reshape(-1, temporal)
    return (groups[:, 0] + groups[:, -1]) / 2


def tokens_per_group(frames_shape: tuple[int, ...], layout: VideoLayout) -> int:
    """Number of `<|video_pad|>` tokens standing for one temporal group."""
    _, gh, gw = grid_thw(frames_shape, layout)
    return (gh // layout.merge) * (gw // layout.merge)


def video_placeholder(stamps: np.ndarray, per_group: int, *, video_token: str = "<|video_pad|>",
                      start: str = "<|vision_start|>", end: str = "<|vision_end|>") -> str:
    """The prompt text standing for one video: `<t seconds>` + start + pads + end per temporal group."""
    block = start + video_token * per_group + end
    return "".join(f"<{t:.1f} seconds>{block}" for t in stamps)


def mm_token_type_ids(input_ids: np.ndarray, video_token_id: int,
                      image_token_id: int | None = None) -> np.ndarray:
    """Per-token modality codes (0 text, 1 image, 2 video) with the shape of `input_ids`."""
    types = np.where(np.asarray(input_ids) == video_token_id, VIDEO, TEXT)
    if image_token_id is not None:
        types = np.where(np.asarray(input_ids) == image_token_id, IMAGE, types)
    return types.astype(np.int64)
