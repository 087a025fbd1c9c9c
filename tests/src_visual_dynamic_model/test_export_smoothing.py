"""The export's fitted smoothing, and the export as a source of `abaw blend`."""

import numpy as np
import pandas as pd

from abaw.affwild import index_split, read_template
from abaw.blend import BlendOptions, parse_sources, run_blend
from abaw.config import DataConfig, load_section
from abaw.smoothing import smooth
from abaw.submission import validate_submission, write_submission, write_video_txts
from abaw.tables import read_table
from src_visual_dynamic_model.export import export
from src_visual_dynamic_model.trained import load_trained


def test_export_smoothing_fitted_on_val(trained_mini, tmp_path):
    path, cfg, best = trained_mini
    from src_visual_dynamic_model import config as stage_config

    model = load_trained(cfg, best)
    raw = export(cfg, model, best, tmp_path / "raw")
    fitted_cfg = stage_config.load(path, ['export.smoothing="fit"'])
    result = export(fitted_cfg, model, best, tmp_path / "fit")
    choice = result["smoothing"]
    assert choice["origin"] == "fitted on val" and len(choice["train_methods"]) == 2
    for split in ("train", "val", "test"):
        before = read_table(tmp_path / "raw" / f"{split}.npz")
        after = read_table(tmp_path / "fit" / f"{split}.npz")
        expected = smooth(before.columns["prediction"], before.offsets, choice["methods"], choice["sizes"])
        np.testing.assert_allclose(after.columns["prediction"], expected, atol=1e-6)
        assert after.meta["smoothing"] == choice
    assert choice["scores"]["raw predictions"] == raw["val_score"]
    assert result["val_score"] == choice["scores"]["fitted on val (optimistic)"] >= raw["val_score"]
    assert "optimistic" in (tmp_path / "fit" / "smoothing.md").read_text()
    assert validate_submission(cfg.data.test_template, tmp_path / "fit" / "submission.txt") == []



def test_the_export_blends_with_another_source(trained_mini, tmp_path):
    path, cfg, best = trained_mini
    export(cfg, load_trained(cfg, best), best, tmp_path / "face")
    val = index_split(cfg.data.annotations, "val")
    rng = np.random.default_rng(0)
    noisy = np.clip(np.nan_to_num(val.labels) + rng.normal(0, 0.3, val.labels.shape), -1, 1)
    write_video_txts(tmp_path / "noisy" / "val", val.videos, val.offsets, noisy)
    template = read_template(cfg.data.test_template)
    test = rng.uniform(-1, 1, (template.n_rows, 2))
    write_submission(tmp_path / "noisy" / "submission.txt", template, test)
    data = load_section(DataConfig, path, "data")
    sources = parse_sources([f"face={tmp_path / 'face'}", f"noisy={tmp_path / 'noisy'}"])
    result = run_blend(data, sources, BlendOptions(grid_step=0.1), tmp_path / "blend")
    board = pd.read_csv(tmp_path / "blend" / "leaderboard.csv")
    assert sorted(board["subset"]) == ["face", "face+noisy", "noisy"]
    assert len(result["fit_videos"]) == len(result["eval_videos"]) == 1
    assert validate_submission(cfg.data.test_template, tmp_path / "blend" / "submission.txt") == []
