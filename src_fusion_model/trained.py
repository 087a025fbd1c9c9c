"""Finding and loading a trained fusion model for export and predict."""

from __future__ import annotations

from pathlib import Path

from abaw.checkpoint import load_checkpoint, load_state
from abaw.errors import AbawError
from abaw.runs import choose_run
from src_fusion_model.config import FusionConfig
from src_fusion_model.model import DCMMOE, Architecture, build_model
from src_fusion_model.train import KIND, STAGE

BEST = "best"


def resolve_checkpoint(cfg: FusionConfig, given: Path | None) -> tuple[Path, str]:
    """(checkpoint, which run it is, in words): a .pt file, a run directory, `best`, or by default the
    newest complete run of `train.name`."""
    if given is not None and str(given) != BEST:
        path = given / "checkpoints" / "best.pt" if given.is_dir() else given
        if not path.is_file():
            raise AbawError(f"{given}: no checkpoint there; pass a .pt file, a run directory of train, "
                            f"or {BEST!r}")
        return path, f"checkpoint {path}"
    run = choose_run(cfg.data.output_root, STAGE, cfg.train.name, best=given is not None)
    return run.checkpoint, f"run of train.name {cfg.train.name!r}: {run.describe()}"


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
