"""End to end on the synthetic `tiny` preset, through the real CLI: extract -> train -> export -> predict."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from abaw.affwild import index_split, read_template
from abaw.submission import validate_submission
from abaw.tables import read_table
from src_visual_dynamic_model import cache

ROOT = Path(__file__).resolve().parents[2]
SMALL_MODEL = ["model.hidden=32", "model.layers=1", "model.heads=2", "model.ff_dim=64", "model.head_dim=16",
               "train.epochs=2", "train.log_every=0", "extract.workers=1"]
STAGE_SECTIONS = """
[backbone]
kind = "tiny"

[extract]
features = "features"
"""


@pytest.fixture(scope="session")
def synth_tiny(tmp_path_factory) -> Path:
    """The tiny synthetic dataset, generated once, with a stage config beside its data.toml."""
    out = tmp_path_factory.mktemp("synth") / "tiny"
    done = subprocess.run([sys.executable, "-m", "abaw", "synth", "--preset", "tiny", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    config = out / "visual.toml"
    config.write_text((out / "data.toml").read_text() + STAGE_SECTIONS)
    return config


def cli(*args: str) -> dict:
    done = subprocess.run([sys.executable, "src_visual_dynamic_model/main.py", *args, "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def overrides() -> list[str]:
    return [arg for item in SMALL_MODEL for arg in ("--set", item)]


def test_tiny_preset_end_to_end(synth_tiny):
    config = str(synth_tiny)
    root = synth_tiny.parent
    splits = {split: index_split(root / "annotations", split) for split in ("train", "val")}
    template = read_template(root / "test_template.txt")

    extracted = cli("extract", "--config", config, *overrides())
    for split in ("train", "val", "test"):
        videos = template.videos if split == "test" else splits[split].videos
        assert extracted[split]["videos"] == len(videos)
        entries = cache.read_manifest(root / "features" / split)
        assert set(entries) == set(map(str, videos))
        for video in map(str, videos):
            frames, rows = cache.read_cache(root / "features" / split / f"{video}.npz", video)
            assert len(frames) == entries[video].frames and rows.shape[1] == 576

    trained = cli("train", "--config", config, *overrides())
    run = Path(trained["run_dir"])
    assert trained["epochs_run"] == 2 and (run / "checkpoints" / "best.pt").is_file()
    assert np.isfinite(trained["val_score"]) and np.isfinite(trained["ridge_score"])
    assert (run / "val_traces.png").is_file() and (run / "metrics.csv").is_file()

    exported = cli("export", "--config", config, *overrides())
    out = Path(exported["out"])
    assert out == run / "export"
    expected = {"train": splits["train"].n_frames, "val": splits["val"].n_frames, "test": template.n_rows}
    for split, rows in expected.items():
        table = read_table(out / f"{split}.npz", kind="frames")
        assert table.n_rows == rows
        assert table.columns["embedding"].shape == (rows, 16)
        assert np.isfinite(table.columns["prediction"]).all()
    np.testing.assert_array_equal(read_table(out / "val.npz").columns["label"], splits["val"].labels)
    assert len(list((out / "predictions" / "val").glob("*.txt"))) == len(splits["val"].videos)
    assert validate_submission(root / "test_template.txt", out / "submission.txt") == []

    submission = run / "predict.txt"
    predicted = cli("predict", "--config", config, *overrides(), "--template",
                    str(root / "test_template.txt"), "--out", str(submission))
    assert predicted["frames"] == template.n_rows
    assert validate_submission(root / "test_template.txt", submission) == []
    scored = cli("predict", "--config", config, *overrides(), "--split", "val")
    assert abs(scored["score"] - trained["val_score"]) < 1e-6
