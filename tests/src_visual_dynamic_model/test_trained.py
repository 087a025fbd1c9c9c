import shutil

import pytest
import torch

from abaw.checkpoint import save_checkpoint
from abaw.errors import AbawError
from src_visual_dynamic_model import config as stage_config
from src_visual_dynamic_model.trained import load_trained, resolve_checkpoint


def test_default_is_the_newest_run(trained_mini, tmp_path):
    path, cfg, best = trained_mini
    assert resolve_checkpoint(cfg, None) == best
    assert resolve_checkpoint(cfg, best.parent.parent) == best
    assert resolve_checkpoint(cfg, best) == best
    with pytest.raises(AbawError, match="no checkpoint there"):
        resolve_checkpoint(cfg, tmp_path)
    other = stage_config.load(path, ["train.name='never'"])
    with pytest.raises(AbawError, match="no trained run named 'never'"):
        resolve_checkpoint(other, None)


def test_loads_the_trained_weights(trained_mini):
    _, cfg, best = trained_mini
    model = load_trained(cfg, best)
    assert not model.training and model.arch.input_dim == 16
    saved = torch.load(best, weights_only=True)["model"]
    torch.testing.assert_close(model.state_dict()["out.weight"], saved["out.weight"])


def test_config_with_another_architecture(trained_mini):
    path, _, best = trained_mini
    cfg = stage_config.load(path, ["model.hidden=32"])
    expected = r"architecture differs.*model\.hidden: 16 in checkpoint, 32 in config"
    with pytest.raises(AbawError, match=expected):
        load_trained(cfg, best)


def test_checkpoint_of_another_model_or_backbone(trained_mini, tmp_path):
    path, cfg, best = trained_mini
    foreign = tmp_path / "foreign.pt"
    save_checkpoint(foreign, {"w": torch.zeros(2)}, kind="behaviour_mamba", arch={"d_model": 256})
    with pytest.raises(AbawError, match="holds a 'behaviour_mamba' model"):
        load_trained(cfg, foreign)
    odd = tmp_path / "odd.pt"
    save_checkpoint(odd, {"w": torch.zeros(2)}, kind="visual_temporal_transformer", arch={"d_model": 256})
    with pytest.raises(AbawError, match="not a checkpoint of the visual temporal model"):
        load_trained(cfg, odd)
    with pytest.raises(AbawError, match="backbone"):
        load_trained(stage_config.load(path, ["backbone.dim=8"]), best)
    broken = tmp_path / "broken.pt"
    shutil.copy(best, broken)
    broken.write_bytes(broken.read_bytes()[:100])
    with pytest.raises(AbawError, match="checkpoint"):
        load_trained(cfg, broken)
