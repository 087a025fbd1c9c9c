import numpy as np

from abaw.affwild import index_split, read_annotation
from abaw.submission import validate_submission
from abaw.tables import read_table
from src_visual_dynamic_model.export import export
from src_visual_dynamic_model.trained import load_trained


def test_export_writes_every_frame_of_every_split(trained_mini, tmp_path):
    _, cfg, best = trained_mini
    out = tmp_path / "export"
    result = export(cfg, load_trained(cfg, best), best, out)
    for split, rows in (("train", 67), ("val", 35), ("test", 28)):
        table = read_table(out / f"{split}.npz", kind="frames")
        assert table.n_rows == rows == result[f"{split}_rows"]
        assert table.columns["embedding"].shape == (rows, 8)
        assert np.isfinite(table.columns["prediction"]).all()
        assert table.meta["split"] == split and table.meta["modality"] == "visual"
    val = read_table(out / "val.npz")
    index = index_split(cfg.data.annotations, "val")
    np.testing.assert_array_equal(val.columns["label"], index.labels)
    train = read_table(out / "train.npz")
    assert not train.columns["face"][train.rows("tr_noface")].any()
    assert train.columns["face"][train.rows("tr_a")].sum() == 27
    txt = read_annotation(out / "predictions" / "val" / "va_a.txt")
    np.testing.assert_allclose(txt, val.columns["prediction"][val.rows("va_a")], atol=1e-4)
    assert validate_submission(cfg.data.test_template, out / "submission.txt") == []
    assert result["submission"] == str(out / "submission.txt")


def test_export_float16_embeddings_and_chosen_splits(trained_mini, tmp_path):
    path, _, best = trained_mini
    from src_visual_dynamic_model import config as stage_config

    cfg = stage_config.load(path, ["export.splits=['val']", "export.embedding_dtype='float16'"])
    result = export(cfg, load_trained(cfg, best), best, tmp_path)
    assert read_table(tmp_path / "val.npz").columns["embedding"].dtype == np.float16
    assert "submission" not in result and not (tmp_path / "train.npz").exists()
