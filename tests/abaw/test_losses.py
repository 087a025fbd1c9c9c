import numpy as np
import pytest
import torch

from abaw.errors import AbawError
from abaw.losses import CCCLoss, ccc_loss
from abaw.metrics import ccc


def batch(seed=0, b=4, t=50):
    gen = torch.Generator().manual_seed(seed)
    target = torch.rand(b, t, 2, generator=gen, dtype=torch.float64) * 2 - 1
    pred = target + 0.5 * torch.randn(b, t, 2, generator=gen, dtype=torch.float64)
    return pred, target


def test_batch_mode_is_one_ccc_over_all_valid_elements():
    pred, target = batch()
    mask = torch.rand(4, 50, generator=torch.Generator().manual_seed(1)) > 0.2
    loss = ccc_loss(pred, target, mask, mode="batch", weights=(0.7, 0.3))
    m = mask.numpy()
    cv = ccc(pred[..., 0].numpy()[m], target[..., 0].numpy()[m])
    ca = ccc(pred[..., 1].numpy()[m], target[..., 1].numpy()[m])
    assert loss.item() == pytest.approx(0.7 * (1 - cv) + 0.3 * (1 - ca), abs=1e-12)


def test_sequence_mode_averages_sequences_with_two_valid_elements():
    pred, target = batch()
    mask = torch.ones(4, 50, 2, dtype=torch.bool)
    mask[3, 1:, 0] = False  # one valid valence element: that sequence is left out of the valence mean
    loss = ccc_loss(pred, target, mask, mode="sequence")
    p, t = pred.numpy(), target.numpy()
    cv = np.mean([ccc(p[b, :, 0], t[b, :, 0]) for b in range(3)])
    ca = np.mean([ccc(p[b, :, 1], t[b, :, 1]) for b in range(4)])
    assert loss.item() == pytest.approx(0.5 * (1 - cv) + 0.5 * (1 - ca), abs=1e-12)


def test_nan_targets_are_unlabelled_and_do_not_poison_gradients():
    pred, target = batch()
    target[0, :10] = float("nan")
    pred = pred.clone().requires_grad_(True)
    for mode in ("batch", "sequence"):
        loss = ccc_loss(pred, target, mode=mode, mse_weight=0.1)
        loss.backward()
        assert torch.isfinite(loss)
        assert torch.isfinite(pred.grad).all()
        assert torch.equal(pred.grad[0, :10], torch.zeros(10, 2, dtype=torch.float64))
        pred.grad = None


@pytest.mark.parametrize("mode", ["batch", "sequence"])
@pytest.mark.parametrize("n_valid", [0, 1])
def test_zero_or_one_valid_element_gives_finite_zero_attached_to_graph(mode, n_valid):
    pred = torch.randn(2, 5, 2, requires_grad=True)
    target = torch.full((2, 5, 2), float("nan"))
    mask = torch.zeros(2, 5, dtype=torch.bool)
    if n_valid:
        target[1, 2] = 0.3
        mask[1, 2] = True
    loss = CCCLoss(mode=mode)(pred, target, mask)
    assert loss.item() == 0.0
    assert loss.requires_grad
    loss.backward()
    assert torch.equal(pred.grad, torch.zeros_like(pred))
    pred.grad = None
    with_mse = CCCLoss(mode=mode, mse_weight=0.1)(pred, target, mask)
    expected = 0.1 * ((pred[1, 2] - 0.3) ** 2).mean() if n_valid else torch.tensor(0.0)
    assert with_mse.item() == pytest.approx(expected.item(), abs=1e-6)
    with_mse.backward()
    assert torch.isfinite(pred.grad).all()


def test_loss_decreases_as_prediction_approaches_target():
    pred, target = batch(2)
    for mode in ("batch", "sequence"):
        steps = [target + a * (pred - target) for a in (1.0, 0.5, 0.1, 0.0)]
        losses = [ccc_loss(step, target, mode=mode).item() for step in steps]
        assert losses == sorted(losses, reverse=True)
        assert losses[0] > 0.2 and losses[-1] == pytest.approx(0.0, abs=1e-12)


def test_gradient_descent_reduces_loss():
    pred, target = batch(3)
    pred = pred.clone().requires_grad_(True)
    optimizer = torch.optim.SGD([pred], lr=5.0)
    criterion = CCCLoss(mode="sequence")
    first = criterion(pred, target).item()
    for _ in range(20):
        optimizer.zero_grad()
        criterion(pred, target).backward()
        optimizer.step()
    assert criterion(pred, target).item() < 0.5 * first


def test_weights_select_the_channel():
    pred, target = batch(4)
    pred[..., 1] = target[..., 1]  # arousal perfect, valence noisy
    only_arousal = ccc_loss(pred, target, weights=(0.0, 1.0))
    only_valence = ccc_loss(pred, target, weights=(1.0, 0.0))
    assert only_arousal.item() == pytest.approx(0.0, abs=1e-12)
    assert only_valence.item() > 0.1


def test_mse_term_is_mean_over_valid_elements():
    pred, target = batch(5)
    mask = torch.ones(4, 50, dtype=torch.bool)
    mask[:, 40:] = False
    base = ccc_loss(pred, target, mask)
    with_mse = ccc_loss(pred, target, mask, mse_weight=0.1)
    mse = ((pred - target)[:, :40] ** 2).mean()
    assert (with_mse - base).item() == pytest.approx(0.1 * mse.item(), abs=1e-12)


def test_half_precision_inputs_are_computed_in_float32():
    pred, target = batch(6)
    loss = ccc_loss(pred.to(torch.bfloat16), target.to(torch.bfloat16), mse_weight=0.1)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(ccc_loss(pred, target, mse_weight=0.1).item(), abs=2e-2)


def test_bad_arguments():
    pred, target = batch()
    with pytest.raises(AbawError, match="unknown mode"):
        ccc_loss(pred, target, mode="frame")
    with pytest.raises(AbawError, match="unknown mode"):
        CCCLoss(mode="frame")
    with pytest.raises(AbawError, match="give one per channel"):
        ccc_loss(pred, target, weights=(1.0,))
    with pytest.raises(AbawError, match=r"must be \[B, T\] or \[B, T, C\]"):
        ccc_loss(pred, target, torch.ones(4, 49, dtype=torch.bool))
    with pytest.raises(AbawError, match=r"must both be \[B, T, C\]"):
        ccc_loss(pred[0], target[0])
