"""Finding and loading a trained audio model: the network is rebuilt from its checkpoint alone."""

from __future__ import annotations

from pathlib import Path

from abaw import runs
from abaw.checkpoint import load_checkpoint, load_state
from abaw.errors import AbawError
from src_audio_and_fusion.config import StageConfig
from src_audio_and_fusion.model import Architecture, AudioModel
from src_audio_and_fusion.train_audio import KIND, STAGE, window_samples


def resolve_checkpoint(cfg: StageConfig, given: Path | None) -> tuple[Path, str]:
    """The checkpoint `--checkpoint` names (`abaw.runs.resolve_checkpoint` over the train-audio runs)."""
    return runs.resolve_checkpoint(cfg.data.output_root, STAGE, cfg.train_audio.name, given)


def load_trained(cfg: StageConfig, path: Path) -> AudioModel:
    """The model of a checkpoint written by train-audio, checked against the [windows] of this config."""
    from transformers import WavLMConfig, WavLMModel

    ckpt = load_checkpoint(path, KIND)
    try:
        arch = Architecture(**ckpt["arch"])
    except TypeError as exc:
        raise AbawError(f"{path}: its architecture record does not fit this version ({exc}); "
                        "retrain") from exc
    if arch.steps != cfg.windows.steps or arch.window_samples != window_samples(cfg):
        raise AbawError(f"{path}: trained on {arch.window_samples} samples in {arch.steps} steps, but "
                        f"[windows] gives {window_samples(cfg)} samples in {cfg.windows.steps} steps; use "
                        "the config it was trained with")
    backbone = WavLMModel(WavLMConfig(**arch.backbone))
    model = AudioModel(backbone, arch)
    load_state(model, ckpt["model"], str(path))
    return model.eval()
