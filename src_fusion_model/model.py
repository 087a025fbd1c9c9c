"""DCMMOE: directed cross-modal experts mixed per frame by a learned gate.

Each modality is projected to H with LayerNorm. An expert `target<-source` is a stack of pre-norm layers
whose queries come from the target modality and whose keys and values come from the source
(`target<-target` is self-attention); sinusoidal positions are added to both. A gate MLP reads every
projected modality (zeroed where invalid) and the validity flags, and gives per-frame softmax weights over
the experts. Frames where an expert's source or target is invalid are masked out of that expert's
attention keys and out of the gate (weight exactly 0). The fused vector is the weighted sum of expert
outputs, then an MLP head gives VA in [-1, 1] and the exported embedding. With `residual` naming a
modality, the head's output instead corrects that modality's own prediction (its last two input columns)
on the atanh scale; the correction starts at zero, so training starts from that modality's score.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from abaw.encodings import sinusoidal_positions
from abaw.errors import AbawError
from src_fusion_model.config import ModelConfig, parse_expert

_EDGE = 0.999  # |prediction| bound before atanh, so an input at +-1 stays finite


@dataclasses.dataclass(frozen=True)
class Architecture(ModelConfig):
    """The `[model]` keys plus what the training data fixed: the modalities and their input sizes."""

    modalities: tuple[str, ...] = ()
    input_dims: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, raw: Any, source: str) -> Architecture:
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(raw, dict) or not set(raw) <= names:
            raise AbawError(f"{source}: not a fusion model checkpoint (architecture {raw!r})")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


class CrossLayer(nn.Module):
    """Pre-norm attention (queries from x, keys/values from source) and feed-forward, both residual."""

    def __init__(self, arch: Architecture, self_attention: bool) -> None:
        super().__init__()
        self.self_attention = self_attention
        self.norm_q = nn.LayerNorm(arch.hidden)
        self.norm_kv = nn.Identity() if self_attention else nn.LayerNorm(arch.hidden)
        self.attn = nn.MultiheadAttention(arch.hidden, arch.heads, batch_first=True)
        self.norm_ff = nn.LayerNorm(arch.hidden)
        self.ff = nn.Sequential(nn.Linear(arch.hidden, arch.ff_dim), nn.GELU(), nn.Dropout(arch.dropout),
                                nn.Linear(arch.ff_dim, arch.hidden))
        self.drop = nn.Dropout(arch.dropout)

    def forward(self, x: torch.Tensor, source: torch.Tensor, padding: torch.Tensor | None) -> torch.Tensor:
        q = self.norm_q(x)
        kv = q if self.self_attention else self.norm_kv(source)
        x = x + self.drop(self.attn(q, kv, kv, key_padding_mask=padding, need_weights=False)[0])
        return x + self.drop(self.ff(self.norm_ff(x)))


class Expert(nn.Module):
    """A directed stack `target<-source`."""

    def __init__(self, arch: Architecture, target: str, source: str) -> None:
        super().__init__()
        self.target, self.source = target, source
        self.layers = nn.ModuleList(CrossLayer(arch, target == source) for _ in range(arch.layers))
        self.norm = nn.LayerNorm(arch.hidden)

    def forward(self, x: torch.Tensor, source: torch.Tensor, padding: torch.Tensor | None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, source, padding)
        return self.norm(x)


class DCMMOE(nn.Module):
    """forward(inputs {name: [B,T,D]}, valid {name: [B,T]}, mask [B,T]) ->
    (prediction [B,T,2], embedding [B,T,E], gate weights [B,T,experts])."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch
        h = arch.hidden
        self.project = nn.ModuleDict({name: nn.Sequential(nn.Linear(dim, h), nn.LayerNorm(h),
                                                          nn.Dropout(arch.dropout))
                                      for name, dim in zip(arch.modalities, arch.input_dims, strict=True)})
        for name, dim in zip(arch.modalities, arch.input_dims, strict=True):
            self.register_buffer(f"mean_{name}", torch.zeros(dim))
            self.register_buffer(f"std_{name}", torch.ones(dim))
        self.routes = [parse_expert(e) for e in arch.experts]
        self.experts = nn.ModuleList(Expert(arch, t, s) for t, s in self.routes)
        m = len(arch.modalities)
        self.gate = (nn.Sequential(nn.Linear(m * h + m, arch.gate_hidden), nn.GELU(),
                                   nn.Linear(arch.gate_hidden, len(arch.experts)))
                     if arch.gate and len(arch.experts) > 1 else None)
        self.head = nn.Sequential(nn.Linear(h, arch.head_dim), nn.GELU(), nn.Dropout(arch.dropout))
        self.out = nn.Linear(arch.head_dim, 2)
        if arch.residual:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def set_normalisation(self, name: str, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Standardise a modality with train-split statistics; near-constant dimensions stay unscaled."""
        getattr(self, f"mean_{name}").copy_(torch.as_tensor(mean, dtype=torch.float32))
        std = torch.as_tensor(std, dtype=torch.float32)
        getattr(self, f"std_{name}").copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))

    def forward(self, inputs: dict[str, torch.Tensor], valid: dict[str, torch.Tensor], mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mask = mask.bool()
        valid = {k: v.bool() & mask for k, v in valid.items()}
        length = mask.shape[1]
        positions = sinusoidal_positions(length, self.arch.hidden).to(mask.device)
        projected = {}
        for name in self.arch.modalities:
            x = (inputs[name].float() - getattr(self, f"mean_{name}")) / getattr(self, f"std_{name}")
            projected[name] = self.project[name](x)
        outputs, usable = [], []
        for expert, (target, source) in zip(self.experts, self.routes, strict=True):
            keys = valid[source]
            # A window without one valid source frame would leave queries nothing to attend to (NaN);
            # those rows attend to all frames, and the gate gives the expert no weight there anyway.
            padding = ~(keys | ~keys.any(dim=1, keepdim=True))
            outputs.append(expert(projected[target] + positions, projected[source] + positions, padding))
            usable.append(valid[source] & valid[target])
        stacked = torch.stack(outputs, dim=2)  # [B, T, E, H]
        allowed = torch.stack(usable, dim=2)  # [B, T, E]
        # A frame where no expert is usable keeps every expert, so it still gets a prediction.
        allowed = allowed | ~allowed.any(dim=2, keepdim=True)
        if self.gate is None:
            logits = torch.zeros(allowed.shape, device=mask.device)
        else:
            flags = torch.stack([valid[n] for n in self.arch.modalities], dim=2).float()
            seen = [projected[n] * valid[n][..., None] for n in self.arch.modalities]
            logits = self.gate(torch.cat([*seen, flags], dim=2)).float()
        weights = torch.softmax(logits.masked_fill(~allowed, float("-inf")), dim=2)
        fused = (weights[..., None] * stacked.float()).sum(dim=2)
        embedding = self.head(fused)
        out = self.out(embedding)
        if self.arch.residual:
            own = inputs[self.arch.residual][..., -2:].float().clamp(-_EDGE, _EDGE)
            out = out + torch.atanh(own)
        return torch.tanh(out), embedding, weights


def build_model(arch: Architecture) -> DCMMOE:
    return DCMMOE(arch)
