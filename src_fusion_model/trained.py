"""Finding and loading a trained fusion model for export and predict."""

from __future__ import annotations

from pathlib import Path

from abaw import runs
from abaw.checkpoint import load_checkpoint, load_state
from abaw.errors import AbawError
from src_fusion_model.config import FusionConfig
from src_fusion_model.model import DCMMOE, Architecture, build_model
from src_fusion_model.train import KIND, STAGE


def resolve_checkpoint(cfg: FusionConfig, given: Path | None) -> tuple[Path, str]:
    """The checkpoint `--checkpoint` names (`abaw.runs.resolve_checkpoint` over this stage's runs)."""
    return runs.resolve_checkpoint(cfg.data.output_root, STAGE, cfg.train.name, given)


def load_trained(cfg: FusionConfig, path: Path) -> DCMMOE:
    """The model of a checkpoint written by `train`; its modalities and experts must be this config's."""
    ckpt = load_checkpoint(path, KIND)
    saved = ckpt.get("arch") or {}
    arch = Architecture.from_dict(saved.get("model") if isinstance(saved, dict) else None, str(path))
    if arch.modalities != cfg.modalities.names or arch.experts != cfg.model.experts:
        raise AbawError(f"{path}: trained with modalities {list(arch.modalities)} and experts "
                        f"{list(arch.experts)}, but the config has {list(cfg.modalities.names)} and "
                        f"{list(cfg.model.experts)}; use the config the run was trained with")
    model = build_model(arch)
    load_state(model, ckpt["model"], str(path))
    return model.eval()
