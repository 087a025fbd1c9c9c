import pytest
import torch

from abaw.errors import AbawError
from src_behavior_model.model import ClipModel, check_arch_dict
from src_behavior_model.scan import sequential_scan


def arch(kind, bidirectional=False, seq_len=6):
    return {
        "kind": kind,
        "input_dim": 7,
        "features": ["mm_last"],
        "d_model": 16,
        "dropout": 0.0,
        "head_dim": 8,
        "seq_len": seq_len,
        "mamba": {
            "layers": 2,
            "d_state": 4,
            "expand": 2,
            "conv_kernel": 3,
            "dt_rank": 0,
            "bidirectional": bidirectional,
        },
        "transformer": {"layers": 1, "heads": 2, "ff_dim": 16},
        "mlp": {"layers": 1, "ff_dim": 16},
    }


def build(kind, **kw):
    torch.manual_seed(0)
    return ClipModel(arch(kind, **kw)).double().eval()


@pytest.mark.parametrize(
    ("kind", "bidirectional"), [("mamba", False), ("mamba", True), ("transformer", False)]
)
def test_padding_never_reaches_real_clips(kind, bidirectional):
    model = build(kind, bidirectional=bidirectional)
    x = torch.randn(1, 6, 7, dtype=torch.float64)
    full_pred, full_emb = model(x[:, :4], torch.ones(1, 4, dtype=torch.bool))
    padded = x.clone()
    padded[:, 4:] = 100.0  # garbage in the padding
    mask = torch.tensor([[True] * 4 + [False] * 2])
    pred, emb = model(padded, mask)
    assert pred.shape == (1, 6, 2) and emb.shape == (1, 6, 8)
    assert torch.allclose(pred[:, :4], full_pred, atol=1e-10) and torch.allclose(
        emb[:, :4], full_emb, atol=1e-10
    )
    assert pred.abs().max() <= 1


def test_causal_mamba_sees_only_the_past_and_bidirectional_sees_both_ways():
    x = torch.randn(1, 6, 7, dtype=torch.float64)
    later = x.clone()
    later[:, 5] += 1.0
    earlier = x.clone()
    earlier[:, 0] += 1.0
    mask = torch.ones(1, 6, dtype=torch.bool)
    causal, both = build("mamba"), build("mamba", bidirectional=True)
    assert torch.equal(causal(later, mask)[0][:, :5], causal(x, mask)[0][:, :5])
    assert not torch.allclose(causal(earlier, mask)[0][:, 5], causal(x, mask)[0][:, 5])
    assert not torch.allclose(both(later, mask)[0][:, 0], both(x, mask)[0][:, 0])


def test_mlp_has_no_context():
    model = build("mlp")
    x = torch.randn(2, 6, 7, dtype=torch.float64)
    changed = x.clone()
    changed[:, 1:] = torch.randn(2, 5, 7, dtype=torch.float64)
    mask = torch.ones(2, 6, dtype=torch.bool)
    assert torch.allclose(model(changed, mask)[0][:, 0], model(x, mask)[0][:, 0])


def test_mamba_model_with_the_reference_scan_gives_the_same_outputs():
    model = build("mamba", bidirectional=True)
    x = torch.randn(3, 6, 7, dtype=torch.float64)
    mask = torch.ones(3, 6, dtype=torch.bool)
    fast = model(x, mask)[0]
    model.encoder.set_scan(sequential_scan)
    assert torch.allclose(fast, model(x, mask)[0], atol=1e-10)


def test_normalisation_uses_train_statistics():
    model = build("mlp")
    x = torch.randn(1, 3, 7, dtype=torch.float64)
    mean, whiten = torch.full((7,), 5.0), torch.eye(7) / 2
    before = model(x, torch.ones(1, 3, dtype=torch.bool))[0]
    model.set_normalisation(mean, whiten)
    assert torch.allclose(model(x * 2 + 5, torch.ones(1, 3, dtype=torch.bool))[0], before)


def test_a_foreign_architecture_is_refused():
    with pytest.raises(AbawError, match="not a checkpoint of the behaviour clip model"):
        check_arch_dict({"input_dim": 3, "hidden": 4}, "x.pt")


def test_ridge_skip_starts_as_the_ridge_and_learns_a_gain_and_a_residual():
    torch.manual_seed(0)
    model = ClipModel({**arch("mamba"), "ridge_skip": True}).double()
    x, mask = torch.randn(2, 6, 7, dtype=torch.float64), torch.ones(2, 6, dtype=torch.bool)
    weight, bias = torch.randn(7, 2, dtype=torch.float64) / 4, torch.tensor([0.1, -0.2], dtype=torch.float64)
    model.set_ridge(weight, bias)
    ridge = x @ weight + bias
    assert torch.allclose(model.eval()(x, mask)[0], torch.tanh(ridge))
    model.train()(x, mask)[0].sum().backward()
    assert model.log_gain.grad.abs().min() > 0 and model.out.weight.grad.abs().max() > 0
    with torch.no_grad():
        model.log_gain.fill_(0.5)
    assert torch.allclose(model.eval()(x, mask)[0], torch.tanh(torch.exp(torch.tensor(0.5)) * ridge))
