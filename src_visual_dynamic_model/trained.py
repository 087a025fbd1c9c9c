"""Finding and loading a trained temporal model for export, predict and explain."""

from __future__ import annotations

from pathlib import Path

from abaw.checkpoint import check_arch, load_checkpoint, load_state
from abaw.errors import AbawError
from src_visual_dynamic_model.config import VisualConfig
from src_visual_dynamic_model.model import Architecture, TemporalTransformer, build_model
from src_visual_dynamic_model.train import KIND, STAGE, checkpoint_arch


def resolve_checkpoint(cfg: VisualConfig, given: Path | None) -> Path:
    """A checkpoint file, a run directory (its best.pt), or by default the newest run of `train.name`."""
    if given is not None:
        path = given / "checkpoints" / "best.pt" if given.is_dir() else given
        if not path.is_file():
            raise AbawError(f"{given}: no checkpoint there; pass a .pt file or a run directory of train")
        return path
    parent = cfg.data.output_root / STAGE
    runs = sorted(parent.glob(f"{cfg.train.name}-*/checkpoints/best.pt"), key=lambda p: p.parent.parent.name)
    if not runs:
        raise AbawError(f"{parent}: no trained run named {cfg.train.name!r}; run `train` first "
                        "or pass --checkpoint")
    return runs[-1]


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
