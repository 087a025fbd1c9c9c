"""End to end on the tiny synthetic preset, through the real CLIs: describe -> train -> export -> predict."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from abaw.affwild import index_split, read_template
from abaw.tables import read_table
from src_behavior_model.main import main

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "src_behavior_model/main.py", *args, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_tiny_preset_end_to_end(tiny_dataset, described_tiny, behaviour):
    """The description stage's real output (tiny random describer) -> train -> export -> submission."""
    text = behaviour.read_text().replace('output_root = "out"', f'output_root = "{described_tiny}"')
    behaviour.write_text(text.replace('segments = "segments"\n', ""))
    config = str(behaviour)
    trained = cli("train", "--config", config, "--set", "model.mamba.bidirectional=true")
    run = Path(trained["run_dir"])
    assert trained["epochs_run"] == 2 and (run / "checkpoints" / "best.pt").is_file()
    assert np.isfinite(trained["val_score"]) and np.isfinite(trained["ridge_score"])
    assert "ridge_score" in (run / "report.md").read_text()

    exported = cli("export", "--config", config, "--set", "model.mamba.bidirectional=true")
    assert abs(exported["val_score"] - trained["val_score"]) < 1e-6
    out = Path(exported["out"])
    template = read_template(tiny_dataset / "test_template.txt")
    for split in ("train", "val", "test"):
        table = read_table(out / f"{split}.npz", kind="frames")
        if split == "test":
            wanted = {
                (str(template.videos[v]), int(f))
                for v, f in zip(template.video_idx, template.frames, strict=True)
            }
        else:
            index = index_split(tiny_dataset / "annotations", split)
            wanted = {
                (str(v), int(f))
                for v, f in zip(index.videos[index.video_of_row()], index.frames, strict=True)
            }
            assert np.array_equal(np.isnan(table.columns["label"]), np.isnan(index.labels))
        got = {
            (str(v), int(f))
            for v, f in zip(table.videos[table.video_of_row()], table.columns["frame"], strict=True)
        }
        assert got == wanted and table.n_rows == len(wanted)  # every frame of every split, once
        assert table.columns["embedding"].shape == (table.n_rows, 8)
        assert (
            np.isfinite(table.columns["prediction"]).all() and np.isfinite(table.columns["embedding"]).all()
        )
        assert table.meta["modality"] == "behaviour"
    assert len(list((out / "predictions" / "val").glob("*.txt"))) == len(
        index_split(tiny_dataset / "annotations", "val").videos
    )
    check = subprocess.run(
        [
            sys.executable,
            "-m",
            "abaw",
            "validate-submission",
            "--template",
            str(tiny_dataset / "test_template.txt"),
            "--submission",
            exported["submission"],
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_predict_and_a_checkpoint_of_another_architecture(behaviour, tmp_path, capsys):
    config = str(behaviour)
    assert main(["train", "--config", config]) == 0
    capsys.readouterr()
    assert (
        main(["predict", "--config", config, "--split", "val", "--out", str(tmp_path / "p"), "--json"]) == 0
    )
    predicted = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (
        np.isfinite(predicted["score"]) and len(list((tmp_path / "p").glob("*.txt"))) == predicted["videos"]
    )
    # The checkpoint holds a Mamba: a config asking for a Transformer is refused in one line.
    assert main(["export", "--config", config, "--set", "model.kind='transformer'"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error:") and "architecture differs" in error and len(error.splitlines()) == 1
