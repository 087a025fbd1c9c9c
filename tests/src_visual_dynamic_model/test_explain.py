import numpy as np
import pandas as pd
import pytest
import torch

from abaw.errors import AbawError
from src_visual_dynamic_model import config as stage_config
from src_visual_dynamic_model.explain import explain, temporal_importance, window_around
from src_visual_dynamic_model.model import Architecture, build_model
from src_visual_dynamic_model.trained import load_trained


def test_window_around_stays_inside_the_video():
    assert window_around(100, 50, 20) == slice(40, 60)
    assert window_around(100, 2, 20) == slice(0, 20)
    assert window_around(100, 99, 20) == slice(80, 100)
    assert window_around(7, 3, 20) == slice(0, 7)


def test_importance_is_zero_where_attention_cannot_reach():
    torch.manual_seed(0)
    model = build_model(Architecture(input_dim=3, hidden=8, layers=1, heads=2, ff_dim=8, head_dim=4)).eval()
    features = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    outputs, importance = temporal_importance(model, features, target=2)
    assert outputs.shape == (6, 2) and importance.shape == (6, 2)
    assert (importance > 0).all()  # attention mixes every frame of the window
    assert importance[2].sum() > 0


def test_explain_writes_csv_and_strip_with_gradcam(trained_mini, tmp_path):
    _, cfg, best = trained_mini
    result = explain(cfg, load_trained(cfg, best), "val", "va_a", 10, tmp_path, top=3)
    table = pd.read_csv(result["csv"])
    assert table["frame"].tolist() == list(range(6, 14))  # window of 8 centred on frame 10
    assert (table["importance_valence"] >= 0).all() and table["shown"].sum() >= 1
    assert result["gradcam"] and 10 in result["shown_frames"]
    assert (tmp_path / "va_a_00010.png").stat().st_size > 1000


def test_explain_without_a_gradcam_layer_shows_plain_crops(trained_mini, tmp_path, monkeypatch):
    _, cfg, best = trained_mini
    from src_visual_dynamic_model import explain as module

    real = module.load_backbone

    def without_layer(*args):
        encoder = real(*args)
        encoder.gradcam_layer = None
        return encoder

    monkeypatch.setattr(module, "load_backbone", without_layer)
    result = explain(cfg, load_trained(cfg, best), "val", "va_b", 15, tmp_path, top=2)
    assert not result["gradcam"] and result["shown_frames"]
    assert 15 not in result["shown_frames"]  # frame 15 of va_b has no crop: its features are borrowed
    assert not pd.read_csv(result["csv"])["face"].iloc[-1]


def test_explain_bad_frames(trained_mini, tmp_path):
    path, _, best = trained_mini
    cfg = stage_config.load(path)
    with pytest.raises(AbawError, match="frame 99 is not one of them"):
        explain(cfg, load_trained(cfg, best), "val", "va_a", 99, tmp_path)
    with pytest.raises(AbawError, match=r"video 'nope' is not in the val split \(searched .*annotations\); "
                                        "no split has it"):
        explain(cfg, load_trained(cfg, best), "val", "nope", 1, tmp_path)
    with pytest.raises(AbawError, match=r"'tr_a' is not in the val split .* it is in the train split: "
                                        "pass --split train"):
        explain(cfg, load_trained(cfg, best), "val", "tr_a", 1, tmp_path)
    with pytest.raises(AbawError, match="--top -2"):
        explain(cfg, load_trained(cfg, best), "val", "va_a", 10, tmp_path, top=-2)
