"""The stage's config: `[data]` (shared), `[clips]`, `[sampling]`, `[describer]`, `[describe]`, `[warmup]`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from abaw.clips import ClipRule
from abaw.config import DataConfig, load_config
from abaw.errors import AbawError
from src_behavior_description.describer import DescriberConfig

SPLITS = ("train", "val", "test")
STAGE = "src_behavior_description"


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    """Which frames of a clip the model sees, and at what size."""

    fps: float = 4.0
    min_frames: int = 4
    max_frames: int = 16
    max_pixels: int = 640 * 360
    min_pixels: int = 32 * 32
    workers: int = 2


@dataclasses.dataclass(frozen=True)
class DescribeConfig:
    splits: tuple[str, ...] = ("train", "val", "test")
    out: Path | None = None
    embedding_dtype: Literal["float16", "float32"] = "float16"


@dataclasses.dataclass(frozen=True)
class WarmupConfig:
    """The demo describer's warm-up: a tiny random model trained on a separate synthetic dataset."""

    preset: str = "demo"
    data_seeds: tuple[int, ...] = (1,)
    splits: tuple[str, ...] = ("train", "val")
    held_out: tuple[str, ...] = ()
    start: Path | None = None
    epochs: int = 3
    lr: float = 1e-3
    seed: int = 0
    centre_per_video: bool = False
    vision_only: bool = False
    flip: bool = False
    shift: int = 0
    per_video: int = 0


@dataclasses.dataclass(frozen=True)
class BehaviourConfig:
    data: DataConfig = DataConfig()
    clips: ClipRule = ClipRule()
    sampling: SamplingConfig = SamplingConfig()
    describer: DescriberConfig = DescriberConfig()
    describe: DescribeConfig = DescribeConfig()
    warmup: WarmupConfig = WarmupConfig()


def load(path: str | Path, overrides: tuple[str, ...] | list[str] = ()) -> BehaviourConfig:
    """Read and check a stage config; problems name the key and the file."""
    cfg = load_config(BehaviourConfig, path, overrides)
    check(cfg, str(Path(path)))
    return cfg


def check(cfg: BehaviourConfig, source: str) -> None:
    s = cfg.sampling
    if not s.fps > 0:
        raise AbawError(f"{source}: sampling.fps = {s.fps}; it must be positive")
    if not 2 <= s.min_frames <= s.max_frames or s.min_frames % 2 or s.max_frames % 2:
        raise AbawError(f"{source}: sampling.min_frames = {s.min_frames}, sampling.max_frames = "
                        f"{s.max_frames}; both must be even with 2 <= min_frames <= max_frames "
                        "(the model takes frames in pairs)")
    if not 32 * 32 <= s.min_pixels <= s.max_pixels:
        raise AbawError(f"{source}: sampling.min_pixels = {s.min_pixels}, sampling.max_pixels = "
                        f"{s.max_pixels}; need 1024 <= min_pixels <= max_pixels (one 32 x 32 block at least)")
    if s.workers < 0:
        raise AbawError(f"{source}: sampling.workers = {s.workers}; use 0 (decode in this process) or more")
    if cfg.describer.batch_size < 1:
        raise AbawError(f"{source}: describer.batch_size = {cfg.describer.batch_size}; it must be at least 1")
    for key, splits in (("describe.splits", cfg.describe.splits), ("warmup.splits", cfg.warmup.splits),
                        ("warmup.held_out", cfg.warmup.held_out)):
        unknown = sorted(set(splits) - set(SPLITS))
        if unknown:
            raise AbawError(f"{source}: {key} names {unknown}; valid splits are {', '.join(SPLITS)}")
    if not cfg.warmup.data_seeds or min(cfg.warmup.data_seeds) < 0:
        raise AbawError(f"{source}: warmup.data_seeds = {list(cfg.warmup.data_seeds)}; give at least one "
                        "generator seed, none negative")
    if cfg.warmup.epochs < 1 or not cfg.warmup.lr > 0:
        raise AbawError(f"{source}: warmup.epochs must be at least 1 and warmup.lr positive")
    both = sorted(set(cfg.warmup.splits) & set(cfg.warmup.held_out))
    if both:
        raise AbawError(f"{source}: warmup.held_out and warmup.splits both name {both}; held-out clips "
                        "choose the epoch and must not be trained on")
    if cfg.warmup.per_video < 0:
        raise AbawError(f"{source}: warmup.per_video = {cfg.warmup.per_video}; use 0 (batches of any clips) "
                        "or at least 2 clips of one video per run")
    if cfg.warmup.shift < 0:
        raise AbawError(f"{source}: warmup.shift = {cfg.warmup.shift}; use 0 (no shifts) or more pixels")


def stage_dir(cfg: BehaviourConfig) -> Path:
    return cfg.data.output_root / STAGE


def segments_dir(cfg: BehaviourConfig) -> Path:
    return stage_dir(cfg) / "segments"


def descriptions_dir(cfg: BehaviourConfig) -> Path:
    """Where `describe` writes: `describe.out`, else `<output_root>/src_behavior_description/descriptions`."""
    return cfg.describe.out or stage_dir(cfg) / "descriptions"


def warmup_start_dir(cfg: BehaviourConfig) -> Path:
    """The random tiny model the warm-up starts from: `warmup.start`, else under the stage folder."""
    return cfg.warmup.start or stage_dir(cfg) / "warmup" / "tiny-start"
