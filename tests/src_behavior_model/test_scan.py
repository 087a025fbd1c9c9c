import pytest
import torch

from src_behavior_model.scan import parallel_scan, sequential_scan


def random_inputs(length, seed, batch=2, dim=5, state=4, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, length, dim, generator=g, dtype=dtype)
    delta = torch.nn.functional.softplus(torch.randn(batch, length, dim, generator=g, dtype=dtype))
    A = -torch.exp(torch.randn(dim, state, generator=g, dtype=dtype))
    Bs = torch.randn(batch, length, state, generator=g, dtype=dtype)
    Cs = torch.randn(batch, length, state, generator=g, dtype=dtype)
    skip = torch.randn(dim, generator=g, dtype=dtype)
    return x, delta, A, Bs, Cs, skip


@pytest.mark.parametrize("reverse", [False, True])
def test_parallel_scan_equals_the_recurrence_for_lengths_1_to_40(reverse):
    for length in range(1, 41):
        inputs = random_inputs(length, seed=length)
        fast, slow = parallel_scan(*inputs, reverse=reverse), sequential_scan(*inputs, reverse=reverse)
        assert fast.shape == (2, length, 5)
        assert torch.allclose(fast, slow, atol=1e-5, rtol=0), (length, (fast - slow).abs().max())


def test_directions_differ_and_reverse_is_the_flipped_forward_scan():
    x, delta, A, Bs, Cs, skip = random_inputs(9, seed=3)
    forward, backward = (
        parallel_scan(x, delta, A, Bs, Cs, skip),
        parallel_scan(x, delta, A, Bs, Cs, skip, True),
    )
    assert not torch.allclose(forward, backward)
    flipped = parallel_scan(*(t.flip(1) for t in (x, delta)), A, *(t.flip(1) for t in (Bs, Cs)), skip)
    assert torch.allclose(backward, flipped.flip(1))
    # The first output of a forward scan only sees the first input: changing the last one leaves it alone.
    x2 = x.clone()
    x2[:, -1] += 1.0
    assert torch.equal(parallel_scan(x2, delta, A, Bs, Cs, skip)[:, :-1], forward[:, :-1])


def test_gradients_agree():
    inputs = [t.clone().requires_grad_(True) for t in random_inputs(13, seed=7)]
    grads = []
    for scan in (parallel_scan, sequential_scan):
        for t in inputs:
            t.grad = None
        scan(*inputs, reverse=True).square().sum().backward()
        grads.append([t.grad.clone() for t in inputs])
    for fast, slow in zip(*grads, strict=True):
        assert torch.allclose(fast, slow, atol=1e-8)


def test_zero_step_carries_the_state_unchanged():
    """Δ = 0 at a position (how padding enters the scan) leaves the state as it was."""
    x, delta, A, Bs, Cs, skip = random_inputs(6, seed=1)
    delta[:, 3:] = 0
    x[:, 3:] = 0
    h_before = sequential_scan(x[:, :3], delta[:, :3], A, Bs[:, :3], Cs[:, :3], skip)
    assert torch.allclose(parallel_scan(x, delta, A, Bs, Cs, skip)[:, :3], h_before)
