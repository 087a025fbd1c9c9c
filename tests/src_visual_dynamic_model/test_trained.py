import shutil
from pathlib import Path

import pytest
import torch

from abaw.checkpoint import save_checkpoint
from abaw.errors import AbawError
from src_visual_dynamic_model import config as stage_config
from src_visual_dynamic_model.trained import load_trained, resolve_checkpoint


def test_default_is_the_newest_run(trained_mini, tmp_path):
    path, cfg, best = trained_mini
    found, which = resolve_checkpoint(cfg, None)
    assert found == best
    assert which.startswith(f"the newest complete run of train.name 'visual': {best.parent.parent} "
                            "(best validation score ")
    assert resolve_checkpoint(cfg, best.parent.parent)[0] == best
    assert resolve_checkpoint(cfg, best) == (best, f"checkpoint {best}")
    with pytest.raises(AbawError, match="no checkpoint there"):
        resolve_checkpoint(cfg, tmp_path)
    other = stage_config.load(path, ["train.name='never'"])
    with pytest.raises(AbawError, match="no complete trained run named 'never'"):
        resolve_checkpoint(other, None)


def fake_run(root, folder, scores, complete=True):
    """A run directory as train leaves it: config, metrics, best.pt and, once finished, report.md."""
    run = root / "src_visual_dynamic_model" / folder
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.toml").write_text('[train]\nmonitor = "score"\n')
    rows = "".join(f"{epoch},{score}\n" for epoch, score in enumerate(scores, start=1))
    (run / "metrics.csv").write_text("epoch,val_score\n" + rows)
    (run / "checkpoints" / "best.pt").write_bytes(b"")
    if complete:
        (run / "report.md").write_text("")
    return run


def test_newest_complete_run_and_the_best_run_of_a_name(trained_mini, tmp_path):
    path, _, _ = trained_mini
    cfg = stage_config.load(path, [f"data.output_root='{tmp_path}'", "train.name='cmp'"])
    good = fake_run(tmp_path, "cmp-20260101-120000-aaaa", [0.1, 0.5, 0.3])
    newer = fake_run(tmp_path, "cmp-20260102-120000-bbbb", [0.2])
    fake_run(tmp_path, "cmp-20260103-120000-cccc", [0.9], complete=False)  # still training
    fake_run(tmp_path, "cmp-big-20260104-120000-dddd", [0.95])  # another name
    found, which = resolve_checkpoint(cfg, None)
    assert found == newer / "checkpoints" / "best.pt" and "validation score 0.2000 at epoch 1" in which
    found, which = resolve_checkpoint(cfg, Path("best"))
    assert found == good / "checkpoints" / "best.pt"
    assert which == (f"the best-scoring run of train.name 'cmp': {good} "
                     "(best validation score 0.5000 at epoch 2)")


def test_loads_the_trained_weights(trained_mini):
    _, cfg, best = trained_mini
    model = load_trained(cfg, best)
    assert not model.training and model.arch.input_dim == 16
    saved = torch.load(best, weights_only=True, map_location="cpu")["model"]
    torch.testing.assert_close(model.state_dict()["out.weight"].cpu(), saved["out.weight"])


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
