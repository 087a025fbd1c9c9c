"""Finding and loading a trained temporal model for export, predict and explain."""

from __future__ import annotations

from pathlib import Path

from abaw import runs
from abaw.checkpoint import check_arch, load_checkpoint, load_state
from src_visual_dynamic_model.config import VisualConfig
from src_visual_dynamic_model.model import Architecture, TemporalTransformer, build_model
from src_visual_dynamic_model.train import KIND, STAGE, checkpoint_arch


def resolve_checkpoint(cfg: VisualConfig, given: Path | None) -> tuple[Path, str]:
    """The checkpoint `--checkpoint` names (`abaw.runs.resolve_checkpoint` over this stage's runs)."""
    return runs.resolve_checkpoint(cfg.data.output_root, STAGE, cfg.train.name, given)


def load_trained(cfg: VisualConfig, path: Path) -> TemporalTransformer:
    """The model of a checkpoint written by `train`, after checking it fits this config and its features."""
    ckpt = load_checkpoint(path, KIND)
    saved = ckpt.get("arch") or {}
    model_arch = saved.get("model") if isinstance(saved, dict) else None
    arch = Architecture.from_dict(model_arch, str(path))
    check_arch(path, ckpt, KIND, checkpoint_arch(cfg, arch.input_dim))
    model = build_model(arch)
    load_state(model, ckpt["model"], str(path))
    return model.eval()
