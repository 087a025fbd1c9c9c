"""Clip sequence models: clip vectors [B, L, F] -> clip valence/arousal [B, L, 2] and a clip embedding.

Every kind shares the input whitening (train statistics in buffers, so a checkpoint carries them),
the input projection to `d_model` and the head (hidden layer = the exported embedding, then tanh VA):
- `mamba`: residual Mamba blocks (RMSNorm, in-projection to x and z, causal depthwise conv, SiLU,
  input-dependent Δ, B, C, selective scan with A = -exp(A_log) and a D skip, gated by SiLU(z),
  out-projection); `bidirectional` adds a backward mixer with its own weights to every block;
- `transformer`: a pre-norm Transformer encoder with learned positions;
- `mlp`: residual feed-forward blocks applied to each clip alone, the no-context baseline.
Padded positions never influence real ones: attention masks them, and in a Mamba mixer they enter the
conv as zeros and the scan with Δ = 0 (state carried through unchanged).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from abaw.errors import AbawError
from src_behavior_model.config import BehaviourConfig
from src_behavior_model.scan import kernel_available, kernel_scan, parallel_scan


def architecture(cfg: BehaviourConfig, input_dim: int) -> dict[str, Any]:
    """Everything that fixes the network's parameters; stored in checkpoints and compared on load."""
    model = cfg.model
    sub = dataclasses.asdict(getattr(model, model.kind))
    sub.pop("kernel", None)  # a runtime choice: the same weights run with or without the fused kernel
    arch = {
        "kind": model.kind,
        "input_dim": input_dim,
        "features": list(cfg.input.features),
        "d_model": model.d_model,
        "dropout": model.dropout,
        "head_dim": model.head_dim,
        model.kind: sub,
    }
    if model.ridge_skip:  # absent when off, so checkpoints from before the option still load
        arch["ridge_skip"] = True
    if model.kind == "transformer":
        arch["seq_len"] = cfg.train.seq_len
    return arch


class MambaMixer(nn.Module):
    """The selective state-space mixer of one Mamba block, scanning forward or backward in time."""

    def __init__(
        self, d_model: int, d_state: int, expand: int, conv_kernel: int, dt_rank: int, reverse: bool = False
    ) -> None:
        super().__init__()
        inner = expand * d_model
        self.inner, self.d_state, self.reverse, self.kernel = inner, d_state, reverse, conv_kernel
        self.dt_rank = dt_rank or math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * inner, bias=False)
        self.conv = nn.Conv1d(inner, inner, conv_kernel, groups=inner, padding=conv_kernel - 1)
        self.x_proj = nn.Linear(inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, inner)
        # Δ starts log-uniform in [1e-3, 1e-1] (the Mamba initialisation): softplus(bias) = Δ.
        dt = torch.exp(torch.rand(inner) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(
            torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(inner, 1)
        )
        self.D = nn.Parameter(torch.ones(inner))
        self.out_proj = nn.Linear(inner, d_model, bias=False)
        self.scan = parallel_scan

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        length = hidden.shape[1]
        keep = mask.unsqueeze(-1).to(hidden.dtype)
        x, z = self.in_proj(hidden).chunk(2, dim=-1)
        x = self.conv((x * keep).transpose(1, 2))
        # Padding k-1 on both sides: the first L outputs look back (causal), the last L look ahead.
        x = x[..., self.kernel - 1 :] if self.reverse else x[..., :length]
        x = F.silu(x.transpose(1, 2))
        dt, Bs, Cs = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt)) * keep
        A = -torch.exp(self.A_log.float())
        y = self.scan(x, delta, A, Bs, Cs, self.D, reverse=self.reverse)
        return self.out_proj(y.to(z.dtype) * F.silu(z))


class MambaBlock(nn.Module):
    def __init__(self, d_model: int, sub: dict[str, Any], dropout: float) -> None:
        super().__init__()
        sizes = (d_model, sub["d_state"], sub["expand"], sub["conv_kernel"], sub["dt_rank"])
        self.norm = nn.RMSNorm(d_model)
        self.mixers = nn.ModuleList(
            [MambaMixer(*sizes)] + ([MambaMixer(*sizes, reverse=True)] if sub["bidirectional"] else [])
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        normed = self.norm(x)
        return x + self.dropout(sum(mixer(normed, mask) for mixer in self.mixers))


class MambaEncoder(nn.Module):
    def __init__(self, arch: dict[str, Any]) -> None:
        super().__init__()
        sub = arch["mamba"]
        self.blocks = nn.ModuleList(
            MambaBlock(arch["d_model"], sub, arch["dropout"]) for _ in range(sub["layers"])
        )
        self.norm = nn.RMSNorm(arch["d_model"])

    def set_scan(self, scan) -> None:
        """Run every mixer with another scan implementation (the bench compares them)."""
        for block in self.blocks:
            for mixer in block.mixers:
                mixer.scan = scan

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)


class TransformerEncoder(nn.Module):
    def __init__(self, arch: dict[str, Any]) -> None:
        super().__init__()
        sub = arch["transformer"]
        self.positions = nn.Parameter(torch.zeros(arch["seq_len"], arch["d_model"]))
        nn.init.normal_(self.positions, std=0.02)
        layer = nn.TransformerEncoderLayer(
            arch["d_model"],
            sub["heads"],
            sub["ff_dim"],
            arch["dropout"],
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, sub["layers"], norm=nn.LayerNorm(arch["d_model"]), enable_nested_tensor=False
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > len(self.positions):
            raise AbawError(
                f"transformer: a sequence of {x.shape[1]} clips is longer than the "
                f"{len(self.positions)} positions it was built for (train.seq_len)"
            )
        return self.encoder(x + self.positions[: x.shape[1]], src_key_padding_mask=~mask)


class MlpEncoder(nn.Module):
    """Residual feed-forward blocks on each clip alone: no information crosses clips."""

    def __init__(self, arch: dict[str, Any]) -> None:
        super().__init__()
        d, sub = arch["d_model"], arch["mlp"]
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(d),
                nn.Linear(d, sub["ff_dim"]),
                nn.GELU(),
                nn.Dropout(arch["dropout"]),
                nn.Linear(sub["ff_dim"], d),
            )
            for _ in range(sub["layers"])
        )
        self.norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = x + block(x)
        return self.norm(x)


ENCODERS = {"mamba": MambaEncoder, "transformer": TransformerEncoder, "mlp": MlpEncoder}


class ClipModel(nn.Module):
    """forward(features [B,L,F], mask [B,L] of real clips) -> (VA [B,L,2] in [-1, 1], embedding [B,L,H])."""

    def __init__(self, arch: dict[str, Any]) -> None:
        super().__init__()
        self.arch = arch
        d = arch["d_model"]
        self.register_buffer("feature_mean", torch.zeros(arch["input_dim"]))
        self.register_buffer("feature_whiten", torch.eye(arch["input_dim"]))
        self.project = nn.Sequential(nn.Linear(arch["input_dim"], d), nn.Dropout(arch["dropout"]))
        self.encoder = ENCODERS[arch["kind"]](arch)
        self.head = nn.Sequential(nn.Linear(d, arch["head_dim"]), nn.GELU(), nn.Dropout(arch["dropout"]))
        self.out = nn.Linear(arch["head_dim"], 2)
        # The train split's clip-wise ridge, fixed, added to the VA logits with a learned per-output gain
        # exp(log_gain): the network learns a residual over a linear read-out whose penalty was chosen on
        # train videos, and weight decay pulls the gain back to the ridge itself, not to zero.
        self.ridge_skip = bool(arch.get("ridge_skip"))
        if self.ridge_skip:
            self.register_buffer("ridge_weight", torch.zeros(arch["input_dim"], 2))
            self.register_buffer("ridge_bias", torch.zeros(2))
            self.log_gain = nn.Parameter(torch.zeros(2))
            # The network's own output starts at zero, so an untrained model is the ridge.
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def set_normalisation(self, mean: torch.Tensor, whiten: torch.Tensor) -> None:
        """Inputs become `(x - mean) @ whiten` (train statistics, see `train.feature_stats`)."""
        self.feature_mean.copy_(torch.as_tensor(mean, dtype=self.feature_mean.dtype))
        self.feature_whiten.copy_(torch.as_tensor(whiten, dtype=self.feature_whiten.dtype))

    def set_ridge(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """The ridge read-out on raw input vectors: `features @ weight + bias` (see `ridge_skip`)."""
        self.ridge_weight.copy_(torch.as_tensor(weight, dtype=self.ridge_weight.dtype))
        self.ridge_bias.copy_(torch.as_tensor(bias, dtype=self.ridge_bias.dtype))

    def use_kernel(self, wanted: bool) -> bool:
        """Switch Mamba mixers to mamba_ssm's fused scan when wanted and possible; True when on."""
        on = wanted and isinstance(self.encoder, MambaEncoder) and kernel_available()
        if isinstance(self.encoder, MambaEncoder):
            self.encoder.set_scan(kernel_scan if on else parallel_scan)
        return on

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = mask.bool()
        features = features.to(self.feature_whiten.dtype)
        x = (features - self.feature_mean) @ self.feature_whiten
        embedding = self.head(self.encoder(self.project(x), mask))
        logits = self.out(embedding)
        if self.ridge_skip:
            logits = logits + self.log_gain.exp() * (features @ self.ridge_weight + self.ridge_bias)
        return torch.tanh(logits), embedding


def check_arch_dict(raw: Any, source: str) -> dict[str, Any]:
    """A checkpoint's architecture, refused with one message when it is not this stage's model."""
    needed = {"kind", "input_dim", "features", "d_model", "dropout", "head_dim"}
    if (
        not isinstance(raw, dict)
        or not needed <= set(raw)
        or raw["kind"] not in ENCODERS
        or raw["kind"] not in raw
    ):
        raise AbawError(
            f"{source}: not a checkpoint of the behaviour clip model (architecture {raw!r}); "
            "use a checkpoint written by src_behavior_model train"
        )
    return raw
