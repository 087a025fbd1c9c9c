"""The selective scan of Mamba: h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t x_t, y_t = C_t · h_t + D x_t.

`parallel_scan` computes the recurrence exactly with a Hillis-Steele doubling scan: after step k every
position holds the combined update of the 2^k positions ending at it, so a sequence of L clips needs
ceil(log2 L) vectorised steps instead of L. The per-step decays exp(Δ·A) are in (0, 1]; their products
can only underflow towards 0 where the true weight is below float precision anyway. `sequential_scan` is
the plain loop it must agree with; it exists for tests and the bench. On a GPU, `kernel_scan` runs
mamba_ssm's fused kernel when that package is importable.

Shapes: x, delta [B, L, D]; A [D, N] (negative); Bs, Cs [B, L, N]; skip [D]. `reverse` scans from the last
position to the first (the backward half of a bidirectional layer).
"""

from __future__ import annotations

import importlib.util

import torch
from torch.nn import functional as F


def _inputs(
    x: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, Bs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step log decay Δ·A and input Δ·B·x, both [B, L, D, N]."""
    log_decay = delta.unsqueeze(-1) * A
    update = (delta * x).unsqueeze(-1) * Bs.unsqueeze(2)
    return log_decay, update


def parallel_scan(x: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, Bs: torch.Tensor, Cs: torch.Tensor,
                  skip: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """y [B, L, D] of the selective scan, by doubling."""
    if reverse:
        x, delta, Bs, Cs = (t.flip(1) for t in (x, delta, Bs, Cs))
    log_decay, state = _inputs(x, delta, A, Bs)
    decay = torch.exp(log_decay)
    step = 1
    length = x.shape[1]
    while step < length:
        # Position t absorbs the combined update ending at t - step, decayed by everything in between;
        # the first `step` positions have nothing before them (zero update, unit decay).
        state = state + decay * F.pad(state[:, :-step], (0, 0, 0, 0, step, 0))
        if 2 * step < length:
            decay = decay * F.pad(decay[:, :-step], (0, 0, 0, 0, step, 0), value=1.0)
        step *= 2
    y = (state * Cs.unsqueeze(2)).sum(-1) + skip * x
    return y.flip(1) if reverse else y


def sequential_scan(
    x: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    Bs: torch.Tensor,
    Cs: torch.Tensor,
    skip: torch.Tensor,
    reverse: bool = False,
) -> torch.Tensor:
    """The same recurrence one position at a time (the reference)."""
    log_decay, update = _inputs(x, delta, A, Bs)
    state = torch.zeros_like(update[:, 0])
    ys = [torch.zeros(0)] * x.shape[1]
    order = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
    for t in order:
        state = torch.exp(log_decay[:, t]) * state + update[:, t]
        ys[t] = torch.einsum("bdn,bn->bd", state, Cs[:, t])
    return torch.stack(ys, dim=1) + skip * x


def kernel_available() -> bool:
    return importlib.util.find_spec("mamba_ssm") is not None and torch.cuda.is_available()


def kernel_scan(
    x: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    Bs: torch.Tensor,
    Cs: torch.Tensor,
    skip: torch.Tensor,
    reverse: bool = False,
) -> torch.Tensor:
    """mamba_ssm's fused CUDA selective scan (channels-first layout), same result as `parallel_scan`."""
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

    if reverse:
        x, delta, Bs, Cs = (t.flip(1) for t in (x, delta, Bs, Cs))
    y = selective_scan_fn(
        x.transpose(1, 2).contiguous(),
        delta.transpose(1, 2).contiguous(),
        A.float(),
        Bs.transpose(1, 2).contiguous(),
        Cs.transpose(1, 2).contiguous(),
        skip.float(),
    )
    y = y.transpose(1, 2)
    return y.flip(1) if reverse else y
