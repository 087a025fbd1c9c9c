"""End to end on the synthetic `tiny` preset, through the real CLI: extract -> train -> export -> predict."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from abaw.affwild import index_split, read_template
from abaw.manifest import read_manifest
from abaw.submission import validate_submission
from abaw.tables import read_table
from src_visual_dynamic_model import cache

ROOT = Path(__file__).resolve().parents[2]
DATA_LAYOUT = {"annotations": "annotations", "test_template": "test_template.txt",
               "cropped_aligned": "cropped_aligned", "videos": "videos"}
SMALL_MODEL = ["model.hidden=32", "model.layers=1", "model.heads=2", "model.ff_dim=64", "model.head_dim=16",
               "train.epochs=2", "train.log_every=0", "extract.workers=1"]
STAGE_SECTIONS = """
[backbone]
kind = "tiny"

[extract]
features = "features"
"""


@pytest.fixture(scope="session")
def synth_tiny(tiny_dataset, tmp_path_factory) -> Path:
    """A stage config reading the shared tiny synthetic dataset, with its own features and outputs."""
    config = tmp_path_factory.mktemp("visual_e2e") / "visual.toml"
    data = "".join(f'{key} = "{tiny_dataset / name}"\n' for key, name in DATA_LAYOUT.items())
    config.write_text(f'[data]\n{data}output_root = "outputs"\n{STAGE_SECTIONS}')
    return config


def cli(*args: str) -> dict:
    done = subprocess.run([sys.executable, "src_visual_dynamic_model/main.py", *args, "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "\r" not in done.stderr  # progress off a terminal: whole lines, not carriage-return redraws
    if args[0] in ("extract", "train"):
        assert "100%" in done.stderr  # and the bars are there, each ending on its final state
    return json.loads(done.stdout.strip().splitlines()[-1])


def overrides() -> list[str]:
    return [arg for item in SMALL_MODEL for arg in ("--set", item)]


def test_tiny_preset_end_to_end(tiny_dataset, synth_tiny):
    config = str(synth_tiny)
    root, work = tiny_dataset, synth_tiny.parent
    splits = {split: index_split(root / "annotations", split) for split in ("train", "val")}
    template = read_template(root / "test_template.txt")

    extracted = cli("extract", "--config", config, *overrides())
    for split in ("train", "val", "test"):
        videos = template.videos if split == "test" else splits[split].videos
        assert extracted[split]["videos"] == len(videos)
        entries = read_manifest(work / "features" / split)
        assert set(entries) == set(map(str, videos))
        for video in map(str, videos):
            frames, rows = cache.read_cache(work / "features" / split / f"{video}.npz", video)
            assert len(frames) == entries[video].info["frames"] and rows.shape[1] == 576

    trained = cli("train", "--config", config, *overrides())
    run = Path(trained["run_dir"])
    assert trained["epochs_run"] == 2 and (run / "checkpoints" / "best.pt").is_file()
    assert np.isfinite(trained["val_score"]) and np.isfinite(trained["ridge_score"])
    assert (run / "val_traces.png").is_file() and (run / "metrics.csv").is_file()

    exported = cli("export", "--config", config, *overrides())
    # The same weights and frames; on a GPU, float16 autocast over other batchings moves the score a little.
    same = 1e-3 if torch.cuda.is_available() else 1e-6
    assert abs(exported["val_score"] - trained["val_score"]) < same and "test_score" not in exported
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
