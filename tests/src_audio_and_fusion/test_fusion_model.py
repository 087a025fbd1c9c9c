"""RAAV network: the gate over valid modalities and the audio term that an unreliable window drops."""

from __future__ import annotations

import dataclasses

import torch

from src_audio_and_fusion.fusion_model import RAAV, FusionArch

ARCH = FusionArch(modalities=("face", "behaviour"), dims=(10, 6), priors=(0.85, 0.15), audio_dim=18,
                  audio_steps=4, hidden=32, heads=2, latents=4, gate_hidden=16, dropout=0.3)


def make_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    b, w = 3, 12
    valid = torch.ones(b, w, 2, dtype=torch.bool)
    valid[0, :5, 0] = False  # no face crop on the first frames of window 0
    mask = torch.ones(b, w, dtype=torch.bool)
    mask[2, 9:] = False
    return {"x/face": torch.randn(b, w, 10, generator=g), "x/behaviour": torch.randn(b, w, 6, generator=g),
            "valid": valid, "mask": mask, "audio": torch.randn(b, 4, 18, generator=g),
            "reliable": torch.tensor([True, False, True])}


def run(model: RAAV, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    torch.manual_seed(123)  # the same dropout draws for both inputs in training mode
    return model(batch)


def test_unreliable_audio_is_ignored_in_training_and_eval_mode() -> None:
    torch.manual_seed(0)
    model = RAAV(ARCH)
    batch = make_batch()
    noisy = dict(batch, audio=batch["audio"].clone())
    noisy["audio"][1] = torch.randn(4, 18) * 100
    noisy["audio"][1, 0, 0] = float("nan")
    changed = dict(batch, audio=batch["audio"].clone())
    changed["audio"][0] = torch.randn(4, 18)
    for training in (True, False):
        model.train(training)
        a, b, c = run(model, batch), run(model, noisy), run(model, changed)
        assert torch.equal(a["prediction"][1], b["prediction"][1])
        assert torch.isfinite(b["prediction"]).all()
        # the reliable window's audio does reach its prediction
        assert not torch.allclose(a["prediction"][0], c["prediction"][0])
    model.train()
    loss = run(model, noisy)["prediction"].sum()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_gate_softmax_over_valid_modalities_with_priors() -> None:
    torch.manual_seed(0)
    model = RAAV(ARCH).eval()
    batch = make_batch()
    gate = model(batch)["gate"]
    torch.testing.assert_close(gate.sum(-1), torch.ones(gate.shape[:2]))
    assert torch.all(gate[0, :5, 0] == 0) and torch.allclose(gate[0, :5, 1], torch.ones(5))
    with torch.no_grad():  # a gate MLP that says nothing leaves the priors
        model.gate[-1].weight.zero_()
        model.gate[-1].bias.zero_()
    gate = model(batch)["gate"]
    torch.testing.assert_close(gate[1, 0], torch.tensor([0.85, 0.15]))


def test_residual_starts_at_the_named_modality_prediction_even_where_it_is_invalid() -> None:
    torch.manual_seed(0)
    model = RAAV(dataclasses.replace(ARCH, residual="face")).eval()
    batch = make_batch()
    batch["x/face"][..., -2:] = torch.rand(3, 12, 2) * 1.8 - 0.9  # the face stage's own prediction
    torch.testing.assert_close(model(batch)["prediction"], batch["x/face"][..., -2:])


def test_without_audio_and_any_number_of_modalities() -> None:
    arch = FusionArch(modalities=("a", "b", "c"), dims=(4, 4, 4), priors=(0.5, 0.3, 0.2), audio_dim=0,
                      audio_steps=0, hidden=16, heads=2, gate_hidden=8)
    model = RAAV(arch).eval()
    x = torch.randn(2, 5, 4)
    out = model({"x/a": x, "x/b": x, "x/c": x, "valid": torch.ones(2, 5, 3, dtype=torch.bool),
                 "mask": torch.ones(2, 5, dtype=torch.bool)})
    assert out["prediction"].shape == (2, 5, 2) and out["gate"].shape == (2, 5, 3)
