"""The stage's config: `[data]` (shared), `[modalities.<name>]` (one per input), `[model]`, `[train]`,
`[export]`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from abaw.config import DataConfig, load_config
from abaw.errors import AbawError
from abaw.tables import FramesExport
from abaw.windowed import WindowedTrainConfig, check_windowing

INPUTS = ("embedding", "prediction", "both")
SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class Modality:
    """One input: a folder of `frames` tables `<split>.npz` and which of their columns the model reads."""

    name: str
    frames: Path
    input: str = "embedding"


@dataclasses.dataclass(frozen=True)
class Modalities:
    """The `[modalities]` table: `[modalities.<name>]` with `frames = "folder"` and `input = "both"`."""

    items: tuple[Modality, ...] = ()

    @classmethod
    def from_toml(cls, value: Any, where: str) -> Modalities:
        if not isinstance(value, dict):
            raise AbawError(f"{where}: expected tables [modalities.<name>] with frames = \"folder\"")
        items = []
        for name, raw in value.items():
            if not isinstance(raw, dict) or "frames" not in raw or not set(raw) <= {"frames", "input"}:
                raise AbawError(f"{where}.{name}: expected frames = \"folder of <split>.npz\" and optional "
                                f"input = one of {', '.join(INPUTS)}, got {raw!r}")
            kind = raw.get("input", "embedding")
            if kind not in INPUTS:
                raise AbawError(f"{where}.{name}.input: {kind!r} is not one of {', '.join(INPUTS)}")
            items.append(Modality(name, Path(raw["frames"]).expanduser(), kind))
        return cls(tuple(items))

    def to_toml(self) -> dict:
        return {m.name: {"frames": str(m.frames), "input": m.input} for m in self.items}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.items)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    experts: tuple[str, ...] = ("face<-behaviour", "face<-face", "behaviour<-face")
    gate: bool = True
    hidden: int = 256
    layers: int = 5
    heads: int = 8
    ff_dim: int = 1024
    dropout: float = 0.1
    gate_hidden: int = 128
    head_dim: int = 256
    residual: str = ""  # a modality whose own prediction the head corrects ("" = the head alone, published)


@dataclasses.dataclass(frozen=True)
class TrainConfig(WindowedTrainConfig):
    """The `[train]` keys of `abaw.training` and `abaw.windowed` plus the gate's of this stage."""

    epochs: int = 100
    lr: float = 1e-4
    amp: bool = False
    name: str = "fusion"
    balance_weight: float = 0.0
    gate_videos: int = 4


@dataclasses.dataclass(frozen=True)
class FusionConfig:
    data: DataConfig = DataConfig()
    modalities: Modalities = Modalities()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    export: FramesExport = FramesExport()


def parse_expert(text: str) -> tuple[str, str]:
    """`"target<-source"` -> (target, source)."""
    target, sep, source = text.partition("<-")
    return target.strip(), (source.strip() if sep else "")


def load(path: str | Path, overrides: tuple[str, ...] | list[str] = ()) -> FusionConfig:
    """Read and check a stage config; modality folders resolve against the config file's folder."""
    cfg = load_config(FusionConfig, path, overrides)
    base = Path(path).resolve().parent
    items = tuple(dataclasses.replace(m, frames=m.frames if m.frames.is_absolute() else (base / m.frames))
                  for m in cfg.modalities.items)
    cfg = dataclasses.replace(cfg, modalities=Modalities(items))
    check(cfg, str(path))
    return cfg


def check(cfg: FusionConfig, source: str) -> None:
    names = cfg.modalities.names
    if not names:
        raise AbawError(f"{source}: no [modalities.<name>] table; add e.g. [modalities.face] with "
                        "frames = \"folder holding train.npz, val.npz, test.npz\"")
    if not cfg.model.experts:
        raise AbawError(f"{source}: model.experts is empty; write e.g. experts = [\"face<-behaviour\"]")
    for text in cfg.model.experts:
        target, src = parse_expert(text)
        for name in (target, src):
            if name not in names:
                raise AbawError(f"{source}: model.experts names {text!r}, but {name!r} is not a configured "
                                f"modality; configured: {', '.join(names)} (write \"target<-source\")")
    residual = cfg.model.residual
    if residual:
        kinds = {m.name: m.input for m in cfg.modalities.items}
        if residual not in kinds:
            raise AbawError(f"{source}: model.residual = {residual!r} is not a configured modality; "
                            f"configured: {', '.join(names)} (or \"\" for none)")
        if kinds[residual] == "embedding":
            raise AbawError(f"{source}: model.residual = {residual!r} corrects that modality's prediction, "
                            f"but [modalities.{residual}] input = \"embedding\" leaves it out; set input = "
                            "\"both\"")
    if len(set(cfg.model.experts)) != len(cfg.model.experts):
        raise AbawError(f"{source}: model.experts repeats an expert: {list(cfg.model.experts)}")
    if cfg.model.hidden % cfg.model.heads:
        raise AbawError(f"{source}: model.hidden = {cfg.model.hidden} must be divisible by model.heads = "
                        f"{cfg.model.heads}")
    check_windowing(cfg.train, source)
    if cfg.train.balance_weight < 0:
        raise AbawError(f"{source}: train.balance_weight = {cfg.train.balance_weight}; it must be >= 0")
    unknown = sorted(set(cfg.export.splits) - set(SPLITS))
    if unknown:
        raise AbawError(f"{source}: export.splits names {unknown}; valid splits are {', '.join(SPLITS)}")
