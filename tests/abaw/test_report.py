import math

import pandas as pd

from abaw.report import append_metrics, markdown_table, plot_curves, read_metrics, write_report


def test_metrics_rows_append_replace_and_grow_columns(tmp_path):
    path = tmp_path / "metrics.csv"
    assert read_metrics(path).empty
    append_metrics(path, {"epoch": 1, "train_loss": 0.5, "val_score": 0.1})
    append_metrics(path, {"epoch": 2, "train_loss": 0.4, "val_score": 0.2})
    append_metrics(path, {"epoch": 2, "train_loss": 0.3, "val_score": 0.25})  # epoch redone after a resume
    table = append_metrics(path, {"epoch": 3, "train_loss": 0.2, "val_score": 0.3, "lr_1": 1e-5})
    assert table["epoch"].tolist() == [1, 2, 3]
    assert table["train_loss"].tolist() == [0.5, 0.3, 0.2]
    assert math.isnan(table["lr_1"][0]) and table["lr_1"][2] == 1e-5
    pd.testing.assert_frame_equal(read_metrics(path), table)
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]


def test_curves_png_is_written(tmp_path):
    table = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.0, 0.7, 0.6], "val_loss": [1.1, 0.9, 0.95],
                          "val_score": [0.1, 0.4, 0.3]})
    path = plot_curves(table, tmp_path / "curves.png", "val_score")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000  # two panels with data, not an empty canvas
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]


def test_report_holds_summary_image_and_table(tmp_path):
    table = pd.DataFrame({"epoch": [1, 2], "val_score": [0.25, float("nan")]})
    text = write_report(tmp_path / "report.md", "Training run x", {"best epoch": 1, "best score": 0.25},
                        table, images=("curves.png",)).read_text()
    assert text.startswith("# Training run x\n")
    assert "| best epoch | 1 |" in text and "| best score | 0.25 |" in text
    assert "![curves](curves.png)" in text
    assert "| 1 | 0.25 |\n| 2 |  |" in text


def test_markdown_table_shape():
    lines = markdown_table(pd.DataFrame({"a": [1, 2], "b": [0.5, 1e-5]})).splitlines()
    assert lines == ["| a | b |", "|---|---|", "| 1 | 0.5 |", "| 2 | 1e-05 |"]
