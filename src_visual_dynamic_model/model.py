"""The temporal model: frame features of a window -> per-frame valence/arousal and a 256-d embedding.

Structure of the published face model: input projection, Transformer encoder (5 layers, 8 heads,
hidden 256, dropout 0.1) with sinusoidal positions, and an MLP head whose hidden vector is the
frame embedding exported to the fusion stages. Feature standardisation statistics (from the train
split) live in buffers, so a checkpoint carries everything needed to use it.

Speed: attention goes through `scaled_dot_product_attention`, whose fused kernels apply neither dropout
on the attention weights (on CPU) nor, at their fastest, a mask. So dropout on the attention weights is
its own setting (`attention_dropout`, 0 by default), and a batch whose windows are all full passes no
padding mask.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from abaw.encodings import sinusoidal_positions
from abaw.errors import AbawError
from src_visual_dynamic_model.config import ModelConfig


@dataclasses.dataclass(frozen=True)
class Architecture(ModelConfig):
    """The `[model]` section plus the feature width: everything that fixes the shapes of the parameters;
    stored in checkpoints and compared on load."""

    input_dim: int = 0

    def __post_init__(self) -> None:
        if self.hidden % self.heads:
            raise AbawError(f"model: hidden {self.hidden} must be divisible by heads {self.heads}")
        if min(self.input_dim, self.hidden, self.layers, self.heads, self.ff_dim, self.head_dim) < 1:
            raise AbawError(f"model: every size must be at least 1, got {self}")
        if not (0 <= self.dropout < 1 and 0 <= self.attention_dropout < 1):
            raise AbawError(f"model: dropout {self.dropout} and attention_dropout {self.attention_dropout} "
                            "must be in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str) -> Architecture:
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(raw, dict) or set(raw) != names:
            raise AbawError(f"{source}: not a checkpoint of the visual temporal model "
                            f"(architecture {raw!r}); "
                            "use a checkpoint written by src_visual_dynamic_model train")
        return cls(**raw)


class TemporalTransformer(nn.Module):
    """forward(features [B,T,D], mask [B,T] of real frames) -> (prediction [B,T,2], embedding [B,T,E]).

    Predictions are in [-1, 1] (tanh); the embedding is the head's hidden vector before the output layer.
    """

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch
        self.register_buffer("feature_mean", torch.zeros(arch.input_dim))
        self.register_buffer("feature_std", torch.ones(arch.input_dim))
        self.project = nn.Sequential(nn.Linear(arch.input_dim, arch.hidden), nn.LayerNorm(arch.hidden),
                                     nn.Dropout(arch.dropout))
        layer = nn.TransformerEncoderLayer(arch.hidden, arch.heads, arch.ff_dim, arch.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        # The layer's one dropout rate also drops attention weights; that alone forces the unfused
        # attention path, so the attention weights take their own rate (the layers below are copies).
        layer.self_attn.dropout = arch.attention_dropout
        self.encoder = nn.TransformerEncoder(layer, arch.layers, norm=nn.LayerNorm(arch.hidden),
                                             enable_nested_tensor=False)
        self.head = nn.Sequential(nn.Linear(arch.hidden, arch.head_dim), nn.GELU(), nn.Dropout(arch.dropout))
        self.out = nn.Linear(arch.head_dim, 2)

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Standardise inputs with train-split statistics; near-constant dimensions are left unscaled."""
        self.feature_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        std = torch.as_tensor(std, dtype=torch.float32)
        self.feature_std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        x = (features.float() - self.feature_mean) / self.feature_std
        x = self.project(x) + sinusoidal_positions(x.shape[1], self.arch.hidden).to(x.device)
        # A batch of full windows needs no mask, and without one attention runs the fastest kernel.
        padding = None if mask is None or bool(mask.all()) else ~mask.bool()
        x = self.encoder(x, src_key_padding_mask=padding)
        embedding = self.head(x)
        return torch.tanh(self.out(embedding)), embedding


def build_model(arch: Architecture) -> TemporalTransformer:
    return TemporalTransformer(arch)
