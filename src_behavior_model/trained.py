"""Finding and loading a trained clip model for export and predict."""

from __future__ import annotations

from pathlib import Path

from abaw.checkpoint import check_arch, load_checkpoint, load_state
from abaw.errors import AbawError
from src_behavior_model.config import BehaviourConfig
from src_behavior_model.model import ClipModel, architecture, check_arch_dict
from src_behavior_model.train import KIND, STAGE


def resolve_checkpoint(cfg: BehaviourConfig, given: Path | None) -> Path:
    """A checkpoint file, a run directory (its best.pt), or by default the newest run of `train.name`."""
    if given is not None:
        path = given / "checkpoints" / "best.pt" if given.is_dir() else given
        if not path.is_file():
            raise AbawError(f"{given}: no checkpoint there; pass a .pt file or a run directory of train")
        return path
    parent = cfg.data.output_root / STAGE
    runs = sorted(parent.glob(f"{cfg.train.name}-*/checkpoints/best.pt"), key=lambda p: p.parent.parent.name)
    if not runs:
        raise AbawError(
            f"{parent}: no trained run named {cfg.train.name!r}; run `train` first or pass --checkpoint"
        )
    return runs[-1]


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
