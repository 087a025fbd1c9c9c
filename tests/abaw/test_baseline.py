import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from abaw.affwild import index_split
from abaw.submission import validate_submission

ROOT = Path(__file__).resolve().parents[2]


def test_baseline_writes_the_train_mean_as_valid_outputs(tiny_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset / "annotations", data / "annotations")
    shutil.copy(tiny_dataset / "test_template.txt", data / "test_template.txt")
    shutil.copy(tiny_dataset / "data.toml", data / "data.toml")
    command = [sys.executable, "-m", "abaw", "baseline", "--config", str(data / "data.toml"), "--json"]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    mean = np.nanmean(index_split(data / "annotations", "train").labels, axis=0)
    assert np.allclose([result["valence_mean"], result["arousal_mean"]], mean, atol=1e-6)
    out = data / "outputs" / "baseline"
    assert validate_submission(data / "test_template.txt", out / "submission.txt") == []
    val = index_split(data / "annotations", "val")
    assert sorted(p.stem for p in (out / "val").glob("*.txt")) == sorted(val.videos)


def test_a_bad_validation_file_leaves_no_output(tiny_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset / "annotations", data / "annotations")
    shutil.copy(tiny_dataset / "test_template.txt", data / "test_template.txt")
    shutil.copy(tiny_dataset / "data.toml", data / "data.toml")
    bad = sorted((data / "annotations" / "Validation_Set").glob("*.txt"))[0]
    bad.write_text(bad.read_text() + "0.1;0.2\n")
    command = [sys.executable, "-m", "abaw", "baseline", "--config", str(data / "data.toml")]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and bad.name in proc.stderr
    assert not (data / "outputs").exists()
