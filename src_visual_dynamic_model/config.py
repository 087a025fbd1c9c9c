"""The stage's config: `[data]` (shared) plus `[backbone]`, `[extract]`, `[model]`, `[train]`, `[export]`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from abaw.config import DataConfig, config_sha, load_config
from abaw.errors import AbawError
from abaw.tables import FramesExport
from abaw.windowed import WindowedTrainConfig, check_windowing

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
    size: int = 112
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    rgb: bool = True


@dataclasses.dataclass(frozen=True)
class BackboneConfig:
    kind: Literal["tiny", "python", "torchscript", "hf"] = "tiny"
    target: str = ""
    import_path: Path | None = None
    kwargs: dict = dataclasses.field(default_factory=dict)
    output: str = ""
    path: Path | None = None
    dim: int = 0
    seed: int = 0
    gradcam_layer: str = ""
    preprocess: PreprocessConfig = PreprocessConfig()


@dataclasses.dataclass(frozen=True)
class ExtractConfig:
    features: Path | None = None
    crop_pattern: str = "{video}/{frame:05d}.jpg"
    splits: tuple[str, ...] = ("train", "val", "test")
    batch_size: int = 64
    workers: int = 2
    device: str = "auto"
    dtype: Literal["float32", "float16"] = "float32"
    require_manifest: bool = True


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    hidden: int = 256
    layers: int = 5
    heads: int = 8
    ff_dim: int = 1024
    dropout: float = 0.1
    attention_dropout: float = 0.0
    head_dim: int = 256


@dataclasses.dataclass(frozen=True)
class TrainConfig(WindowedTrainConfig):
    """The `[train]` keys of `abaw.training` and `abaw.windowed` plus the loss and stitching of this stage."""

    epochs: int = 100
    name: str = "visual"
    loss_mode: Literal["batch", "sequence"] = "batch"
    mse_weight: float = 0.0
    time_delay: int = 0
    stitch: Literal["mean", "centre", "gaussian"] = "mean"
    ridge_baseline: bool = True
    trace_videos: int = 4


@dataclasses.dataclass(frozen=True)
class VisualConfig:
    data: DataConfig = DataConfig()
    backbone: BackboneConfig = BackboneConfig()
    extract: ExtractConfig = ExtractConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    export: FramesExport = FramesExport()


SPLITS = ("train", "val", "test")


def load(path: str | Path, overrides: tuple[str, ...] | list[str] = ()) -> VisualConfig:
    """Read and check a stage config; problems name the key and the file."""
    cfg = load_config(VisualConfig, path, overrides)
    check(cfg, str(Path(path)))
    return cfg


def check(cfg: VisualConfig, source: str) -> None:
    check_windowing(cfg.train, source)
    if cfg.extract.batch_size < 1:
        raise AbawError(f"{source}: extract.batch_size = {cfg.extract.batch_size}; it must be at least 1")
    for key, splits in (("extract.splits", cfg.extract.splits), ("export.splits", cfg.export.splits)):
        unknown = sorted(set(splits) - set(SPLITS))
        if unknown:
            raise AbawError(f"{source}: {key} names {unknown}; valid splits are {', '.join(SPLITS)}")
    pre = cfg.backbone.preprocess
    if pre.size < 8 or len(pre.mean) != 3 or len(pre.std) != 3 or min(pre.std) <= 0:
        raise AbawError(f"{source}: backbone.preprocess needs size >= 8 and three means and positive stds")
    if "{video}" not in cfg.extract.crop_pattern or "{frame" not in cfg.extract.crop_pattern:
        raise AbawError(f"{source}: extract.crop_pattern {cfg.extract.crop_pattern!r} must contain "
                        "{video} and {frame...}, e.g. '{video}/{frame:05d}.jpg'")


def features_dir(cfg: VisualConfig) -> Path:
    """Where the per-video caches live: `extract.features`, else `<output_root>/visual_features`."""
    return cfg.extract.features or cfg.data.output_root / "visual_features"


def backbone_sha(cfg: VisualConfig) -> str:
    """Fingerprint of everything that changes the features (backbone and preprocessing)."""
    return config_sha(cfg.backbone)
