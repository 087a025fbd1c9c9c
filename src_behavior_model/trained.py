"""Finding and loading a trained clip model for export and predict."""

from __future__ import annotations

from pathlib import Path

from abaw import runs
from abaw.checkpoint import check_arch, load_checkpoint, load_state
from src_behavior_model.config import BehaviourConfig
from src_behavior_model.model import ClipModel, architecture, check_arch_dict
from src_behavior_model.train import KIND, STAGE


def resolve_checkpoint(cfg: BehaviourConfig, given: Path | None) -> tuple[Path, str]:
    """The checkpoint `--checkpoint` names (`abaw.runs.resolve_checkpoint` over this stage's runs)."""
    return runs.resolve_checkpoint(cfg.data.output_root, STAGE, cfg.train.name, given)


def load_trained(cfg: BehaviourConfig, path: Path) -> ClipModel:
    """The model of a checkpoint written by `train`, once it is checked against the config."""
    ckpt = load_checkpoint(path, KIND)
    arch = check_arch_dict(ckpt.get("arch"), str(path))
    wanted = {
        **architecture(cfg, arch["input_dim"]),
        "feature_dims": arch.get("feature_dims"),
        "producer": arch.get("producer"),
    }
    check_arch(path, ckpt, KIND, wanted)
    model = ClipModel(arch)
    load_state(model, ckpt["model"], str(path))
    model.use_kernel(cfg.model.mamba.kernel)
    return model.eval()
