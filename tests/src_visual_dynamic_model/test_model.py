import pytest
import torch

from abaw.checkpoint import load_state
from abaw.errors import AbawError
from src_visual_dynamic_model.model import Architecture, build_model, sinusoidal_positions

SMALL = Architecture(input_dim=6, hidden=16, layers=2, heads=4, ff_dim=32, dropout=0.1, head_dim=8)


def test_shapes_and_range():
    model = build_model(SMALL).eval()
    pred, emb = model(torch.randn(3, 10, 6) * 50)
    assert pred.shape == (3, 10, 2) and emb.shape == (3, 10, 8)
    assert pred.abs().max() <= 1.0


def test_padding_does_not_change_real_frames():
    torch.manual_seed(0)
    model = build_model(SMALL).eval()
    x = torch.randn(1, 7, 6)
    padded = torch.cat([x, torch.randn(1, 5, 6) * 100], dim=1)
    mask = torch.tensor([[True] * 7 + [False] * 5])
    ref, _ = model(x)
    out, _ = model(padded, mask)
    torch.testing.assert_close(out[:, :7], ref, atol=1e-5, rtol=1e-5)


def test_normalisation_is_applied_and_saved():
    model = build_model(SMALL).eval()
    x = torch.randn(2, 5, 6)
    before, _ = model(x)
    model.set_normalisation(torch.full((6,), 3.0), torch.tensor([2.0, 0.0, 1.0, 1.0, 1.0, 1.0]))
    assert model.feature_std[1] == 1.0  # a constant dimension is not divided by 0
    after, _ = model(x)
    assert not torch.allclose(before, after)
    other = build_model(SMALL).eval()
    other.load_state_dict(model.state_dict())
    torch.testing.assert_close(other(x)[0], after)


def test_positions_are_distinct_and_odd_dims_work():
    codes = sinusoidal_positions(20, 7)
    assert codes.shape == (20, 7)
    assert torch.unique(codes, dim=0).shape[0] == 20


def test_bad_architectures():
    with pytest.raises(AbawError, match="divisible"):
        Architecture(input_dim=4, hidden=10, heads=3)
    with pytest.raises(AbawError, match="attention_dropout"):
        Architecture(input_dim=4, attention_dropout=1.0)
    with pytest.raises(AbawError, match="not a checkpoint of the visual"):
        Architecture.from_dict({"d_model": 256}, "ckpt.pt")
    assert Architecture.from_dict(SMALL.to_dict(), "x") == SMALL


def test_weights_from_another_architecture():
    model = build_model(SMALL)
    other = build_model(Architecture(input_dim=6, hidden=32, layers=2, heads=4, ff_dim=32, head_dim=8))
    with pytest.raises(AbawError, match="another architecture"):
        load_state(model, other.state_dict(), "other.pt")


def test_embedding_is_the_vector_the_output_layer_reads():
    model = build_model(SMALL).eval()
    pred, emb = model(torch.randn(2, 9, 6))
    torch.testing.assert_close(torch.tanh(model.out(emb)), pred)


def attention_ops(model, mask) -> set[str]:
    """The attention kernels (and dropout draws) run by one training forward and backward."""
    from torch.profiler import profile

    with profile() as prof:
        model(torch.randn(*mask.shape, 6), mask)[0].sum().backward()
    return {e.name for e in prof.events() if "attention" in e.name}


def test_attention_dropout_is_its_own_rate_and_keeps_the_fused_kernel():
    fast = build_model(SMALL).train()  # attention_dropout defaults to 0
    layer = fast.encoder.layers[0]
    assert layer.self_attn.dropout == 0.0 and layer.dropout1.p == 0.1 and fast.head[2].p == 0.1
    padded = torch.ones(2, 12, dtype=torch.bool)
    padded[1, 9:] = False
    for mask in (torch.ones(2, 12, dtype=torch.bool), padded):
        ops = attention_ops(fast, mask)
        assert "aten::_scaled_dot_product_flash_attention_for_cpu" in ops
        assert "aten::_scaled_dot_product_attention_math" not in ops
    dropping = build_model(Architecture(**{**SMALL.to_dict(), "attention_dropout": 0.1})).train()
    assert dropping.encoder.layers[1].self_attn.dropout == 0.1
    assert "aten::_scaled_dot_product_attention_math" in attention_ops(dropping, padded)


def test_a_batch_of_full_windows_runs_without_a_mask():
    torch.manual_seed(0)
    model = build_model(SMALL).eval()
    x = torch.randn(2, 9, 6)
    full = torch.ones(2, 9, dtype=torch.bool)
    seen = []
    hook = model.encoder.layers[0].self_attn.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs.get("key_padding_mask")), with_kwargs=True)
    with_mask, _ = model(x, full)
    without, _ = model(x)
    hook.remove()
    assert seen == [None, None]
    torch.testing.assert_close(with_mask, without)
