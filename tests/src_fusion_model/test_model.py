import torch

from src_fusion_model.model import Architecture, build_model


def tiny(gate: bool = True, experts=("face<-behaviour", "face<-face", "behaviour<-face")):
    arch = Architecture(modalities=("face", "behaviour"), input_dims=(6, 4), experts=tuple(experts),
                        gate=gate, hidden=16, layers=1, heads=2, ff_dim=16, gate_hidden=8, head_dim=8,
                        dropout=0.0)
    torch.manual_seed(0)
    return build_model(arch).eval()


def batch(invalid_behaviour: list[int]):
    inputs = {"face": torch.randn(2, 10, 6), "behaviour": torch.randn(2, 10, 4)}
    valid = {"face": torch.ones(2, 10, dtype=torch.bool), "behaviour": torch.ones(2, 10, dtype=torch.bool)}
    valid["behaviour"][0, invalid_behaviour] = False
    return inputs, valid, torch.ones(2, 10, dtype=torch.bool)


def test_invalid_behaviour_frame_gets_zero_weight_on_experts_that_read_it():
    model = tiny()
    pred, emb, gate = model(*batch([3, 4]))
    assert pred.shape == (2, 10, 2) and emb.shape == (2, 10, 8) and gate.shape == (2, 10, 3)
    assert (gate[0, [3, 4]][:, [0, 2]] == 0).all()  # face<-behaviour and behaviour<-face read behaviour
    assert torch.allclose(gate[0, [3, 4], 1], torch.ones(2))  # face<-face takes it all
    assert (gate[0, 5] > 0).all() and (gate[1] > 0).all()
    torch.testing.assert_close(gate.sum(-1), torch.ones(2, 10))


def test_invalid_source_frames_do_not_change_other_frames_of_the_expert():
    model = tiny(gate=False, experts=("face<-behaviour",))
    inputs, valid, mask = batch([3])
    first = model(inputs, valid, mask)[0]
    inputs["behaviour"][0, 3] += 100.0  # a masked key: nothing may depend on it
    second = model(inputs, valid, mask)[0]
    torch.testing.assert_close(first, second)


def test_window_without_valid_source_still_predicts():
    model = tiny()
    pred, _, gate = model(*batch(list(range(10))))
    assert torch.isfinite(pred).all()
    assert torch.allclose(gate[0, :, 1], torch.ones(10))


def test_published_single_expert_has_no_gate():
    model = tiny(gate=False, experts=("face<-behaviour",))
    assert model.gate is None
    _, _, gate = model(*batch([]))
    assert torch.allclose(gate, torch.ones_like(gate))


def test_residual_starts_at_the_named_modality_prediction():
    arch = Architecture(modalities=("face", "behaviour"), input_dims=(6, 4), hidden=16, layers=1, heads=2,
                        ff_dim=16, gate_hidden=8, head_dim=8, dropout=0.0, residual="face")
    model = build_model(arch).eval()
    inputs, valid, mask = batch([3])
    inputs["face"][..., -2:] = torch.rand(2, 10, 2) * 1.8 - 0.9  # the face stage's own prediction columns
    pred, _, _ = model(inputs, valid, mask)
    torch.testing.assert_close(pred, inputs["face"][..., -2:])
