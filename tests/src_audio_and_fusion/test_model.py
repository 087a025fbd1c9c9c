from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from safetensors.torch import save_file

from abaw.errors import AbawError
from src_audio_and_fusion.model import (
    Architecture,
    AudioModel,
    frame_chunks,
    frame_mask,
    load_backbone,
    set_trainable,
)

SAMPLES = 64000


def make_model(audio_cfg, normalise: str) -> AudioModel:
    torch.manual_seed(0)
    backbone = load_backbone(audio_cfg)
    arch = Architecture(backbone=backbone.config.to_dict(), steps=4, window_samples=SAMPLES, pool_hidden=16,
                        head_dim=16, dropout=0.1, normalise=normalise, global_scale=0.05)
    return AudioModel(backbone, arch).eval()


@pytest.mark.parametrize("normalise", ["window", "global", "none"])
def test_a_short_window_ignores_its_padding(tiny_wavlm, normalise: str) -> None:
    model = make_model(tiny_wavlm, normalise)
    real = 45_000  # a video of 2.8 s: one window, padded
    torch.manual_seed(1)
    speech = 0.1 * torch.randn(real)
    mask = torch.zeros(1, SAMPLES, dtype=torch.bool)
    mask[0, :real] = True
    zeros = torch.zeros(1, SAMPLES)
    zeros[0, :real] = speech
    noise = torch.randn(1, SAMPLES)
    noise[0, :real] = speech
    full = torch.randn(1, SAMPLES)
    with torch.no_grad():
        alone, emb_alone = model(zeros, mask)
        padded, _ = model(noise, mask)
        batched, emb_batched = model(torch.cat([full, noise]), torch.cat([torch.ones_like(mask), mask]))
    used = slice(0, 3)  # the fourth second starts after the video's end
    torch.testing.assert_close(padded[:, used], alone[:, used], rtol=0, atol=1e-5)
    torch.testing.assert_close(batched[1:, used], alone[:, used], rtol=0, atol=1e-5)
    torch.testing.assert_close(emb_batched[1:, used], emb_alone[:, used], rtol=0, atol=1e-5)


def test_frames_map_to_seconds_and_the_mask_drops_padded_frames() -> None:
    chunk = frame_chunks(199, 4, 1.0)
    assert chunk.bincount().tolist() == [50, 50, 50, 49]
    mask = torch.zeros(2, SAMPLES, dtype=torch.bool)
    mask[0] = True
    mask[1, :16_000] = True
    frames = frame_mask(mask, 199)
    assert frames.sum(dim=1).tolist() == [199, 49]


def test_tiny_is_loaded_back_from_its_folder(tiny_wavlm) -> None:
    config = json.loads((tiny_wavlm.path / "config.json").read_text())
    assert config["model_type"] == "wavlm" and config["feat_extract_norm"] == "layer"
    assert config["conv_bias"] is True
    first = load_backbone(tiny_wavlm).state_dict()
    again = load_backbone(tiny_wavlm).state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_another_architecture_is_refused(tmp_path) -> None:
    from transformers import BertConfig, BertModel

    BertModel(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                         vocab_size=50)).save_pretrained(tmp_path / "bert")
    from src_audio_and_fusion.config import AudioConfig

    with pytest.raises(AbawError, match="'bert' model, not WavLM"):
        load_backbone(AudioConfig(kind="wavlm", path=tmp_path / "bert"))
    with pytest.raises(AbawError, match="no config.json"):
        load_backbone(AudioConfig(kind="wavlm", path=tmp_path / "nothing"))


def test_overlay_counts_and_copies(tiny_wavlm, tmp_path, capsys) -> None:
    own = load_backbone(tiny_wavlm).state_dict()
    layer_norm = "encoder.layer_norm.weight"
    tensors = {f"wavlm.{layer_norm}": torch.full_like(own[layer_norm], 3.0),
               "wavlm.encoder.layer_norm.bias": torch.zeros_like(own["encoder.layer_norm.bias"]),
               "classifier.weight": torch.zeros(4, 2)}
    save_file(tensors, str(tmp_path / "ser.safetensors"))
    cfg = dataclasses.replace(tiny_wavlm, overlay=tmp_path / "ser.safetensors", overlay_prefix="wavlm.")
    backbone = load_backbone(cfg)
    assert torch.all(backbone.state_dict()[layer_norm] == 3.0)
    out = capsys.readouterr().out
    missing = len(own) - 2
    expected = f"2 tensors matched, {missing} backbone tensors missing from it, 1 of its tensors unexpected"
    assert expected in out
    with pytest.raises(AbawError, match="none of its 3 tensors matches"):
        load_backbone(dataclasses.replace(cfg, overlay_prefix="model."))


def test_last_layers_train_and_pooling_is_in_the_head_group(tiny_wavlm) -> None:
    from transformers import WavLMConfig, WavLMModel

    config = WavLMConfig(hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32,
                         conv_dim=(8,) * 7, feat_extract_norm="layer", do_stable_layer_norm=True,
                         num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2)
    backbone = WavLMModel(config)
    set_trainable(backbone, 2)
    trainable = {n.split(".")[2] for n, p in backbone.named_parameters()
                 if p.requires_grad and "layers." in n}
    assert trainable == {"1", "2"}
    assert not any(p.requires_grad for p in backbone.feature_extractor.parameters())
    model = make_model(tiny_wavlm, "window")
    head = {id(p) for p in model.head_parameters()}
    assert all(id(p) in head for p in model.pool.parameters())
    assert not head & {id(p) for p in model.backbone.parameters()}
