from pathlib import Path

import pytest

from abaw.errors import AbawError
from src_fusion_model import config as stage_config

CONFIGS = Path(__file__).resolve().parents[2] / "src_fusion_model" / "configs"


@pytest.mark.parametrize("name", ["default", "demo", "published", "demo_published"])
def test_shipped_configs_load(name):
    cfg = stage_config.load(CONFIGS / f"{name}.toml")
    assert cfg.modalities.names == ("face", "behaviour")
    assert cfg.train.lr == (1e-3 if name.startswith("demo") else 1e-4)


def test_published_is_the_single_ungated_expert():
    cfg = stage_config.load(CONFIGS / "published.toml")
    assert cfg.model.experts == ("face<-behaviour",) and not cfg.model.gate


def test_default_toml_holds_every_default():
    cfg = stage_config.load(CONFIGS / "default.toml")
    assert cfg.model == stage_config.ModelConfig() and cfg.train == stage_config.TrainConfig()


def test_residual_needs_a_modality_whose_prediction_is_read():
    with pytest.raises(AbawError, match="input = \"embedding\" leaves it out"):
        stage_config.load(CONFIGS / "demo_published.toml", ["model.residual=face"])
    with pytest.raises(AbawError, match="not a configured modality"):
        stage_config.load(CONFIGS / "demo.toml", ["model.residual=audio"])
