"""Finding and loading a trained temporal model for export, predict and explain."""

from __future__ import annotations

from pathlib import Path

from abaw.checkpoint import check_arch, load_checkpoint, load_state
from abaw.errors import AbawError
from abaw.runs import choose_run
from src_visual_dynamic_model.config import VisualConfig
from src_visual_dynamic_model.model import Architecture, TemporalTransformer, build_model
from src_visual_dynamic_model.train import KIND, STAGE, checkpoint_arch

BEST = "best"  # --checkpoint best: the best-scoring complete run of train.name


def resolve_checkpoint(cfg: VisualConfig, given: Path | None) -> tuple[Path, str]:
    """(checkpoint, which run it is, in words) for `--checkpoint`: a checkpoint file, a run directory
    (its best.pt), `best`, or by default the newest complete run of `train.name`."""
    if given is not None and str(given) != BEST:
        path = given / "checkpoints" / "best.pt" if given.is_dir() else given
        if not path.is_file():
            raise AbawError(f"{given}: no checkpoint there; pass a .pt file, a run directory of train, "
                            f"or {BEST!r}")
        return path, f"checkpoint {path}"
    best = given is not None
    run = choose_run(cfg.data.output_root, STAGE, cfg.train.name, best=best)
    which = "best-scoring" if best else "newest complete"
    return run.checkpoint, f"the {which} run of train.name {cfg.train.name!r}: {run.describe()}"


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
