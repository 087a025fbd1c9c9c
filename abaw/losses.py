"""Masked CCC training losses: sum_c weights[c] * (1 - CCC_c) + mse_weight * MSE.

Two ways to pool frames into a CCC:
- "batch": one CCC per channel over every valid element of the batch (closest to the official
  metric, which is computed over all frames of a split at once);
- "sequence": one CCC per sequence and channel, averaged over the sequences that hold at least two
  valid elements.

A target that is NaN counts as not valid (NaN = no label), on top of the optional mask. A channel
without enough valid elements adds 0 to the loss; the result is then still a finite tensor attached
to the graph, with finite gradients, so a batch of unlabelled frames never breaks training.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from abaw.errors import AbawError
from abaw.metrics import ccc_torch

MODES = ("batch", "sequence")


def _valid_mask(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if pred.ndim != 3 or pred.shape != target.shape:
        raise AbawError(
            f"ccc_loss: pred {tuple(pred.shape)} and target {tuple(target.shape)} must both be [B, T, C]"
        )
    valid = ~torch.isnan(target)
    if mask is None:
        return valid
    if mask.shape == pred.shape[:2]:
        mask = mask.unsqueeze(-1)
    elif mask.shape != pred.shape:
        raise AbawError(
            f"ccc_loss: mask {tuple(mask.shape)} must be [B, T] or [B, T, C] for pred {tuple(pred.shape)}"
        )
    return valid & mask.to(torch.bool)


def _channel_ccc(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, mode: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel CCC [C] and whether each channel had enough valid elements [C]."""
    if mode == "batch":
        channels = pred.shape[-1]
        pred, target, valid = (t.reshape(-1, channels) for t in (pred, target, valid))
        return ccc_torch(pred, target, valid, dim=0), valid.sum(dim=0) >= 2
    per_sequence = ccc_torch(pred, target, valid, dim=1)  # [B, C]
    counted = valid.sum(dim=1) >= 2
    n_sequences = counted.sum(dim=0)
    total = torch.where(counted, per_sequence, torch.zeros_like(per_sequence)).sum(dim=0)
    return total / n_sequences.clamp(min=1).to(total.dtype), n_sequences > 0


def ccc_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    mode: str = "batch",
    weights: Sequence[float] = (0.5, 0.5),
    mse_weight: float = 0.0,
) -> torch.Tensor:
    """Scalar loss of pred [B,T,C] against target [B,T,C]; mask [B,T] or [B,T,C] marks valid elements.

    `weights` has one entry per channel (valence, arousal); the MSE term is the mean squared error
    over all valid elements of all channels. Computed in at least float32.
    """
    if mode not in MODES:
        raise AbawError(f"ccc_loss: unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if len(weights) != pred.shape[-1]:
        raise AbawError(
            f"ccc_loss: {len(weights)} weights for {pred.shape[-1]} channels; give one per channel"
        )
    valid = _valid_mask(pred, target, mask)
    dtype = torch.promote_types(pred.dtype, torch.float32)
    pred = pred.to(dtype)
    # NaN targets are replaced before any arithmetic so their gradient paths carry zeros, not NaN.
    target = torch.where(valid, target.to(dtype), torch.zeros((), dtype=dtype, device=pred.device))
    value, enough = _channel_ccc(pred, target, valid, mode)
    w = torch.as_tensor(weights, dtype=dtype, device=pred.device)
    loss = (w * torch.where(enough, 1.0 - value, torch.zeros_like(value))).sum()
    if mse_weight:
        squared = torch.where(valid, pred - target, torch.zeros_like(pred)) ** 2
        loss = loss + mse_weight * squared.sum() / valid.sum().clamp(min=1).to(dtype)
    return loss


class CCCLoss(nn.Module):
    """Module form of `ccc_loss` with fixed options: `loss = CCCLoss(mode="sequence")(pred, target, mask)`."""

    def __init__(
        self, mode: str = "batch", weights: Sequence[float] = (0.5, 0.5), mse_weight: float = 0.0
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise AbawError(f"CCCLoss: unknown mode {mode!r}; use one of {', '.join(MODES)}")
        self.mode = mode
        self.weights = tuple(float(w) for w in weights)
        self.mse_weight = float(mse_weight)

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return ccc_loss(pred, target, mask, self.mode, self.weights, self.mse_weight)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, weights={self.weights}, mse_weight={self.mse_weight}"
