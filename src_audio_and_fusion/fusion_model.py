"""RAAV: reliability-aware audio-visual fusion of frame modalities and audio windows.

Per frame, every frame modality's embedding and prediction is projected to H; a gate MLP over all of them
gives one logit per modality, the log of its prior is added, and a softmax over the modalities valid at
that frame mixes them. A few learned latents attend to the window's audio step tokens, the frames attend
to the latents, and that audio term is added only for windows whose audio is reliable: for the others it
is computed from zeros and then dropped, so their audio values cannot reach the output in any mode. A
sinusoidal encoding of the frame's place in the window is added before both attentions. One temporal
encoder layer and a per-frame head give valence and arousal. With `residual` naming a frame modality, the
head's output is instead a correction, on the atanh scale, of that modality's own prediction (read at
every frame, its nearest frame where it has none); the correction starts at zero, so training starts from
that modality's score and a dominant modality is not lost while the fusion learns where the others help.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

_EDGE = 0.999  # |prediction| bound before atanh, so a label at +-1 stays finite


@dataclasses.dataclass(frozen=True)
class FusionArch:
    modalities: tuple[str, ...]
    dims: tuple[int, ...]  # embedding + 2 per frame modality
    priors: tuple[float, ...]
    audio_dim: int  # embedding + 2 per audio step; 0 = no audio
    audio_steps: int
    hidden: int = 256
    heads: int = 4
    latents: int = 4
    gate_hidden: int = 64
    dropout: float = 0.1
    residual: str = ""  # a modality whose own prediction the head corrects ("" = the head alone)


def sinusoid(n: int, dim: int, device: torch.device) -> torch.Tensor:
    """Fixed sinusoidal position encoding [n, dim] of positions 0..n-1."""
    pos = torch.arange(n, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    out = torch.zeros(n, dim, device=device)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq)
    return out


class RAAV(nn.Module):
    def __init__(self, arch: FusionArch) -> None:
        super().__init__()
        self.arch = arch
        h = arch.hidden
        self.project = nn.ModuleDict({name: nn.Sequential(nn.Linear(d, h), nn.LayerNorm(h))
                                      for name, d in zip(arch.modalities, arch.dims, strict=True)})
        self.gate = nn.Sequential(nn.Linear(h * len(arch.modalities), arch.gate_hidden), nn.GELU(),
                                  nn.Linear(arch.gate_hidden, len(arch.modalities)))
        self.register_buffer("log_prior", torch.tensor([math.log(p) for p in arch.priors]), persistent=False)
        if arch.audio_dim:
            self.audio_in = nn.Sequential(nn.Linear(arch.audio_dim, h), nn.LayerNorm(h))
            self.audio_steps = nn.Parameter(torch.zeros(arch.audio_steps, h))
            self.latents = nn.Parameter(torch.randn(arch.latents, h) * 0.02)
            self.read_audio = nn.MultiheadAttention(h, arch.heads, dropout=arch.dropout, batch_first=True)
            self.read_latents = nn.MultiheadAttention(h, arch.heads, dropout=arch.dropout, batch_first=True)
            self.audio_norm = nn.LayerNorm(h)
        self.temporal = nn.TransformerEncoderLayer(h, arch.heads, 4 * h, arch.dropout, batch_first=True,
                                                   norm_first=True)
        self.head = nn.Sequential(nn.LayerNorm(h), nn.Linear(h, h // 2), nn.GELU(), nn.Dropout(arch.dropout),
                                  nn.Linear(h // 2, 2))
        if arch.residual:  # training starts from that modality's prediction, so it starts at its score
            nn.init.zeros_(self.head[-1].weight)
            nn.init.zeros_(self.head[-1].bias)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """`prediction` [B, W, 2], `gate` [B, W, M], `hidden` [B, W, H] of a `FusionSplit.batch`."""
        frames = torch.stack([self.project[name](batch[f"x/{name}"]) for name in self.arch.modalities], dim=2)
        b, w, m, h = frames.shape
        logits = self.gate(frames.reshape(b, w, m * h)) + self.log_prior
        logits = logits.masked_fill(~batch["valid"], float("-inf"))
        gate = torch.softmax(logits, dim=-1)
        # Frames need their place in the window to pick the audio step and temporal context that is theirs.
        x = (gate.unsqueeze(-1) * frames).sum(dim=2) + sinusoid(w, h, frames.device).to(frames.dtype)
        if self.arch.audio_dim:
            x = x + self.audio_term(x, batch["audio"], batch["reliable"])
        x = self.temporal(x, src_key_padding_mask=~batch["mask"])
        out = self.head(x)
        if self.arch.residual:  # the modality's own prediction is the last two columns of its input
            own = batch[f"x/{self.arch.residual}"][..., -2:].to(out.dtype).clamp(-_EDGE, _EDGE)
            out = torch.tanh(torch.atanh(own) + out)
        return {"prediction": out, "gate": gate, "hidden": x}

    def audio_term(self, x: torch.Tensor, audio: torch.Tensor, reliable: torch.Tensor) -> torch.Tensor:
        keep = reliable[:, None, None]
        zero = torch.zeros((), dtype=audio.dtype, device=audio.device)
        tokens = self.audio_in(torch.where(keep, audio, zero))
        tokens = tokens + self.audio_steps
        latents = self.latents.expand(len(x), -1, -1)
        latents = latents + self.read_audio(latents, tokens, tokens, need_weights=False)[0]
        term = self.read_latents(self.audio_norm(x), latents, latents, need_weights=False)[0]
        return torch.where(keep, term, torch.zeros((), dtype=term.dtype, device=term.device))
