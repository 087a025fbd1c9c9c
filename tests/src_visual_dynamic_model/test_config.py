from pathlib import Path

import pytest

from abaw.errors import AbawError
from src_visual_dynamic_model import config as stage_config

STAGE = Path(__file__).resolve().parents[2] / "src_visual_dynamic_model"


@pytest.mark.parametrize("hop", [0, -3, 9])
def test_hop_length_out_of_range(mini, hop):
    with pytest.raises(AbawError, match="train.hop_length"):
        stage_config.load(mini, [f"train.hop_length={hop}"])


def test_hop_equal_to_window_is_fine(mini):
    assert stage_config.load(mini, ["train.hop_length=8"]).train.hop_length == 8


def test_paths_resolve_against_the_config_folder(mini):
    cfg = stage_config.load(mini)
    assert cfg.data.annotations == mini.parent / "annotations"
    assert stage_config.features_dir(cfg) == mini.parent / "features"


def test_features_default_under_output_root(mini):
    text = mini.read_text().replace('features = "features"\n', "")
    mini.write_text(text)
    cfg = stage_config.load(mini)
    assert stage_config.features_dir(cfg) == mini.parent / "out" / "visual_features"


@pytest.mark.parametrize("override, key", [("extract.splits=['train','dev']", "extract.splits"),
                                           ("extract.crop_pattern='{video}.jpg'", "extract.crop_pattern"),
                                           ("train.loss_weights=[1.0]", "train.loss_weights"),
                                           ("backbone.kind='resnet'", "backbone.kind")])
def test_bad_values_name_their_key(mini, override, key):
    with pytest.raises(AbawError, match=key.replace(".", r"\.")):
        stage_config.load(mini, [override])


def test_backbone_fingerprint_follows_the_backbone_only(mini):
    base = stage_config.backbone_sha(stage_config.load(mini))
    assert stage_config.backbone_sha(stage_config.load(mini, ["train.epochs=7"])) == base
    assert stage_config.backbone_sha(stage_config.load(mini, ["backbone.dim=8"])) != base
    assert stage_config.backbone_sha(stage_config.load(mini, ["backbone.preprocess.size=96"])) != base


@pytest.mark.parametrize("name", ["default.toml", "demo.toml"])
def test_shipped_configs_load(name):
    cfg = stage_config.load(STAGE / "configs" / name)
    assert cfg.train.hop_length <= cfg.train.window
