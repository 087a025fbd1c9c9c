"""The stage's config: `[data]`, `[input]`, `[model]` (one sub-section per kind), `[train]`, `[export]`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from abaw.config import DataConfig, load_config
from abaw.errors import AbawError
from abaw.training import TrainConfig as LoopConfig

SPLITS = ("train", "val", "test")
KINDS = ("mamba", "transformer", "mlp")


@dataclasses.dataclass(frozen=True)
class InputConfig:
    segments: Path | None = None
    features: tuple[str, ...] = ("mm_last",)


@dataclasses.dataclass(frozen=True)
class MambaConfig:
    layers: int = 12
    d_state: int = 8
    expand: int = 2
    conv_kernel: int = 5
    dt_rank: int = 0
    bidirectional: bool = False
    kernel: bool = True


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    layers: int = 4
    heads: int = 8
    ff_dim: int = 512


@dataclasses.dataclass(frozen=True)
class MlpConfig:
    layers: int = 2
    ff_dim: int = 512


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    kind: Literal["mamba", "transformer", "mlp"] = "mamba"
    d_model: int = 256
    dropout: float = 0.1
    head_dim: int = 256
    ridge_skip: bool = False
    mamba: MambaConfig = MambaConfig()
    transformer: TransformerConfig = TransformerConfig()
    mlp: MlpConfig = MlpConfig()


@dataclasses.dataclass(frozen=True)
class TrainConfig(LoopConfig):
    """The shared `[train]` keys of `abaw.training` plus the clip sequences and the loss of this stage."""

    epochs: int = 100
    lr: float = 3e-4
    weight_decay: float = 1e-3
    early_stop_patience: int = 12
    name: str = "behaviour"
    seq_len: int = 16
    stride: int = 8
    loss_weights: tuple[float, ...] = (0.5, 0.5)
    mse_weight: float = 0.0
    eval_batch_size: int = 64
    ridge_baseline: bool = True


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    splits: tuple[str, ...] = SPLITS
    embedding_dtype: Literal["float32", "float16"] = "float32"
    out: Path | None = None


@dataclasses.dataclass(frozen=True)
class BehaviourConfig:
    data: DataConfig = DataConfig()
    input: InputConfig = InputConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    export: ExportConfig = ExportConfig()


def segments_dir(cfg: BehaviourConfig) -> Path:
    """Where the segments tables are: `input.segments`, else the description stage's default output."""
    return cfg.input.segments or cfg.data.output_root / "src_behavior_description" / "descriptions"


def load(path: str | Path, overrides: tuple[str, ...] | list[str] = ()) -> BehaviourConfig:
    """Read and check a stage config; problems name the key and the file."""
    cfg = load_config(BehaviourConfig, path, overrides)
    check(cfg, str(Path(path)))
    return cfg


def check(cfg: BehaviourConfig, source: str) -> None:
    train, model = cfg.train, cfg.model
    if not cfg.input.features:
        raise AbawError(
            f'{source}: input.features is empty; name at least one pooled vector, e.g. ["mm_last"]'
        )
    if train.seq_len < 1 or not 1 <= train.stride <= train.seq_len:
        raise AbawError(
            f"{source}: train.seq_len = {train.seq_len}, train.stride = {train.stride}; need "
            "seq_len >= 1 and 1 <= stride <= seq_len, or clips between sequences are never seen"
        )
    if len(train.loss_weights) != 2:
        raise AbawError(f"{source}: train.loss_weights needs two values (valence, arousal)")
    if train.eval_batch_size < 1:
        raise AbawError(f"{source}: train.eval_batch_size = {train.eval_batch_size}; it must be at least 1")
    sizes = {
        "model.d_model": model.d_model,
        "model.head_dim": model.head_dim,
        "model.mamba.layers": model.mamba.layers,
        "model.mamba.d_state": model.mamba.d_state,
        "model.mamba.expand": model.mamba.expand,
        "model.mamba.conv_kernel": model.mamba.conv_kernel,
        "model.transformer.layers": model.transformer.layers,
        "model.transformer.heads": model.transformer.heads,
        "model.transformer.ff_dim": model.transformer.ff_dim,
        "model.mlp.ff_dim": model.mlp.ff_dim,
    }
    for key, value in sizes.items():
        if value < 1:
            raise AbawError(f"{source}: {key} = {value}; it must be at least 1")
    if model.mamba.dt_rank < 0 or model.mlp.layers < 0:
        raise AbawError(f"{source}: model.mamba.dt_rank and model.mlp.layers must be >= 0")
    if model.kind == "transformer" and model.d_model % model.transformer.heads:
        raise AbawError(
            f"{source}: model.d_model = {model.d_model} must be divisible by "
            f"model.transformer.heads = {model.transformer.heads}"
        )
    if not 0 <= model.dropout < 1:
        raise AbawError(f"{source}: model.dropout = {model.dropout}; it must be in [0, 1)")
    unknown = sorted(set(cfg.export.splits) - set(SPLITS))
    if unknown:
        raise AbawError(f"{source}: export.splits names {unknown}; valid splits are {', '.join(SPLITS)}")
