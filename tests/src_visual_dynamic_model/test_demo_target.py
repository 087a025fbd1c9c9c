"""The face stream's promise on the `demo` preset, with the shipped demo config: a validation score of at
least 0.5 and at least 0.05 above a frame-wise ridge regression on the same features."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "src_visual_dynamic_model" / "configs" / "demo.toml"


def run(*args: str) -> dict:
    done = subprocess.run([sys.executable, *args, "--json"], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.longest
def test_demo_config_beats_framewise_ridge(tmp_path):
    data = tmp_path / "demo"
    run("-m", "abaw", "synth", "--preset", "demo", "--out", str(data))
    paths = {"annotations": data / "annotations", "test_template": data / "test_template.txt",
             "cropped_aligned": data / "cropped_aligned", "videos": data / "videos",
             "output_root": tmp_path / "outputs"}
    overrides = [arg for key, path in paths.items() for arg in ("--set", f'data.{key}="{path}"')]
    stage = ["src_visual_dynamic_model/main.py"]
    run(*stage, "extract", "--config", str(DEMO), *overrides)
    trained = run(*stage, "train", "--config", str(DEMO), *overrides)
    assert trained["val_score"] >= 0.5
    assert trained["val_score"] - trained["ridge_score"] >= 0.05
