"""The audio network: WavLM, attention-statistics pooling per 1 s chunk, and a small head per chunk.

A 4 s window of 16 kHz samples gives 199 WavLM frames (20 ms hop). Frame j is centred at
`(320 j + 200) / 16000` s and belongs to the chunk of that second, so chunk i is the window's i-th
second, the same bin as label i. Each chunk is pooled into mean and standard deviation of the frames
under learned attention weights (only real frames: the padding mask reaches WavLM and the pooling),
then LayerNorm -> Linear(2H, 256) -> GELU gives the step embedding and Linear(256, 2) the prediction.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from abaw.errors import AbawError
from src_audio_and_fusion.config import SAMPLE_RATE, AudioConfig

log = logging.getLogger("abaw.audio")

HOP_SAMPLES = 320  # WavLM's frame hop (the product of its conv strides)
FIELD_SAMPLES = 400  # WavLM's receptive field per frame
EPS = 1e-5


@dataclasses.dataclass(frozen=True)
class Architecture:
    """What a checkpoint must match: the backbone's shape, the pooling and head, the input handling."""

    backbone: dict[str, Any]  # the WavLM config dict
    steps: int
    window_samples: int
    pool_hidden: int
    head_dim: int
    dropout: float
    normalise: str
    global_scale: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def tiny_backbone_config(cfg: AudioConfig) -> Any:
    """A small random WavLM of the same class and layout as WavLM-Large (layer-normalised extractor)."""
    from transformers import WavLMConfig

    return WavLMConfig(
        hidden_size=cfg.hidden, num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads,
        intermediate_size=2 * cfg.hidden, conv_dim=(cfg.conv_dim,) * 7, conv_bias=cfg.conv_bias,
        feat_extract_norm="layer", do_stable_layer_norm=True, num_conv_pos_embeddings=32,
        num_conv_pos_embedding_groups=4, layerdrop=0.0, num_buckets=64, max_bucket_distance=200)


def ensure_tiny(cfg: AudioConfig) -> Path:
    """Build the tiny random WavLM into `cfg.path` unless one with the same config is there; returns it."""
    from transformers import WavLMModel

    config = tiny_backbone_config(cfg)
    folder = cfg.path
    marker = folder / "config.json"
    if marker.is_file():
        from transformers import AutoConfig

        saved = AutoConfig.from_pretrained(folder)
        same = all(getattr(saved, k, None) == getattr(config, k) for k in
                   ("hidden_size", "num_hidden_layers", "num_attention_heads", "conv_dim", "conv_bias"))
        if same:
            return folder
    torch.manual_seed(cfg.seed)
    WavLMModel(config).save_pretrained(folder)
    log.info("built a tiny random WavLM in %s", folder)
    return folder


def load_backbone(cfg: AudioConfig) -> nn.Module:
    """WavLM from a local folder (the tiny one is built there first); another architecture is refused."""
    from transformers import AutoConfig, WavLMModel

    folder = ensure_tiny(cfg) if cfg.kind == "tiny" else cfg.path
    if not (folder / "config.json").is_file():
        raise AbawError(f"audio.path = {folder}: no config.json there; point it at a local WavLM folder "
                        "(e.g. microsoft/wavlm-large saved with save_pretrained)")
    config = AutoConfig.from_pretrained(folder)
    if config.model_type != "wavlm":
        raise AbawError(f"audio.path = {folder}: holds a {config.model_type!r} model, not WavLM; "
                        "point it at a WavLM checkpoint folder")
    backbone = WavLMModel.from_pretrained(folder)
    if cfg.overlay is not None:
        overlay_weights(backbone, cfg.overlay, cfg.overlay_prefix)
    return backbone


def overlay_weights(backbone: nn.Module, path: Path, prefix: str) -> dict[str, int]:
    """Copy the tensors of a safetensors file (names with `prefix` stripped) into the backbone."""
    from safetensors.torch import load_file

    if not path.is_file():
        raise AbawError(f"audio.overlay = {path}: file not found")
    try:
        tensors = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for a damaged file
        raise AbawError(f"audio.overlay = {path}: not a readable safetensors file ({exc})") from exc
    renamed = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    own = backbone.state_dict()
    matched = {k: v for k, v in renamed.items() if k in own and own[k].shape == v.shape}
    shape_clash = sorted(k for k in renamed if k in own and own[k].shape != renamed[k].shape)
    counts = {"matched": len(matched), "missing": len(set(own) - set(matched)),
              "unexpected": len(tensors) - len(matched)}
    if not matched:
        sample = ", ".join(sorted(tensors)[:3])
        raise AbawError(f"audio.overlay = {path}: none of its {len(tensors)} tensors matches a WavLM weight "
                        f"after stripping audio.overlay_prefix = {prefix!r} (its names look like {sample}); "
                        "set the prefix its names carry before the WavLM ones")
    if shape_clash:
        log.warning("overlay: %d tensors have the right name but another shape (first: %s); they are skipped",
                    len(shape_clash), shape_clash[0])
    backbone.load_state_dict(matched, strict=False)
    print(f"overlay {path.name}: {counts['matched']} tensors matched, {counts['missing']} backbone tensors "
          f"missing from it, {counts['unexpected']} of its tensors unexpected")
    return counts


def frame_mask(sample_mask: torch.Tensor, n_frames: int) -> torch.Tensor:
    """bool [B, T]: WavLM frames whose whole receptive field lies in the real samples."""
    real = sample_mask.sum(dim=1)
    count = torch.div(real - FIELD_SAMPLES, HOP_SAMPLES, rounding_mode="floor") + 1
    count = torch.where(real >= FIELD_SAMPLES, count, torch.zeros_like(count))
    return torch.arange(n_frames, device=sample_mask.device)[None, :] < count[:, None]


def frame_chunks(n_frames: int, steps: int, step_seconds: float) -> torch.Tensor:
    """int64 [T]: the chunk (second of the window) of each frame, by its centre time."""
    centre = (torch.arange(n_frames) * HOP_SAMPLES + FIELD_SAMPLES // 2) / SAMPLE_RATE
    return torch.clamp((centre / step_seconds).floor().long(), max=steps - 1)


class ChunkStatsPool(nn.Module):
    """Attention-weighted mean and standard deviation of the frames of each chunk: [B,T,H] -> [B,S,2H]."""

    def __init__(self, hidden: int, attention: int, steps: int) -> None:
        super().__init__()
        self.steps = steps
        self.score = nn.Sequential(nn.Linear(hidden, attention), nn.Tanh(), nn.Linear(attention, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, chunk: torch.Tensor) -> torch.Tensor:
        logits = self.score(x).squeeze(-1).float()  # [B, T]
        member = (chunk[None, :, None] == torch.arange(self.steps, device=x.device)[None, None, :])
        member = member & mask[:, :, None]  # [B, T, S]
        logits = logits[:, :, None].masked_fill(~member, float("-inf"))
        weights = torch.softmax(logits, dim=1)
        weights = torch.where(member, weights, torch.zeros_like(weights))  # empty chunks: all zero, not NaN
        xf = x.float()
        mean = torch.einsum("bts,bth->bsh", weights, xf)
        second = torch.einsum("bts,bth->bsh", weights, xf * xf)
        std = torch.sqrt((second - mean * mean).clamp(min=EPS))
        return torch.cat([mean, std], dim=-1)


class AudioModel(nn.Module):
    """Window samples [B, L] with their mask -> step predictions [B, S, 2] and embeddings [B, S, D]."""

    def __init__(self, backbone: nn.Module, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch
        self.backbone = backbone
        hidden = backbone.config.hidden_size
        self.pool = ChunkStatsPool(hidden, arch.pool_hidden, arch.steps)
        self.norm = nn.LayerNorm(2 * hidden)
        self.embed = nn.Sequential(nn.Dropout(arch.dropout), nn.Linear(2 * hidden, arch.head_dim), nn.GELU())
        self.out = nn.Sequential(nn.Dropout(arch.dropout), nn.Linear(arch.head_dim, 2))
        step_seconds = arch.window_samples / SAMPLE_RATE / arch.steps
        n_frames = (arch.window_samples - FIELD_SAMPLES) // HOP_SAMPLES + 1
        self.register_buffer("chunk", frame_chunks(n_frames, arch.steps, step_seconds), persistent=False)

    def normalise(self, wave: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The configured input scaling, computed over real samples only; padding is set to zero."""
        m = mask.to(wave.dtype)
        wave = wave * m
        if self.arch.normalise == "window":
            count = m.sum(dim=1, keepdim=True).clamp(min=1)
            mean = wave.sum(dim=1, keepdim=True) / count
            var = (((wave - mean) * m) ** 2).sum(dim=1, keepdim=True) / count
            wave = (wave - mean) / torch.sqrt(var + 1e-7) * m
        elif self.arch.normalise == "global":
            wave = wave / self.arch.global_scale
        return wave

    def forward(self, wave: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.normalise(wave, mask)
        hidden = self.backbone(x, attention_mask=mask.long()).last_hidden_state
        frames = frame_mask(mask, hidden.shape[1])
        chunk = self.chunk[: hidden.shape[1]]
        pooled = self.pool(hidden, frames, chunk)
        embedding = self.embed(self.norm(pooled))
        return self.out(embedding), embedding

    def backbone_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.backbone.parameters() if p.requires_grad]

    def head_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if not name.startswith("backbone.")]


def set_trainable(backbone: nn.Module, layers: int) -> int:
    """Freeze the backbone except its last `layers` encoder layers and final norm (-1: train it all)."""
    if layers < 0:
        backbone.requires_grad_(True)
    else:
        backbone.requires_grad_(False)
        encoder_layers = backbone.encoder.layers
        for layer in list(encoder_layers)[len(encoder_layers) - min(layers, len(encoder_layers)):]:
            layer.requires_grad_(True)
        if layers > 0:
            backbone.encoder.layer_norm.requires_grad_(True)
    if hasattr(backbone, "masked_spec_embed") and backbone.masked_spec_embed is not None and layers >= 0:
        backbone.masked_spec_embed.requires_grad_(False)
    return sum(p.numel() for p in backbone.parameters() if p.requires_grad)


def build_model(arch: Architecture, backbone: nn.Module) -> AudioModel:
    return AudioModel(backbone, arch)
