"""`search` through the real CLI: a grid of 4 trials killed after 2 finished trials, then rerun."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from abaw.config import read_toml

ROOT = Path(__file__).resolve().parents[2]
FAST = ["model.kind='mlp'", "train.epochs=1", "train.ridge_baseline=false"]


def command(config: Path, space: Path) -> list[str]:
    sets = [arg for item in FAST for arg in ("--set", item)]
    return [
        sys.executable,
        "src_behavior_model/main.py",
        "search",
        "--config",
        str(config),
        "--space",
        str(space),
        *sets,
        "--json",
    ]


def test_killed_search_reruns_only_the_unfinished_trials(behaviour):
    space = behaviour.parent / "space.toml"
    space.write_text("train.lr = [1e-3, 3e-3]\nmodel.d_model = [8, 16]\n")
    out = behaviour.parent / "out" / "src_behavior_model" / "search-space"
    csv = out / "search.csv"
    process = subprocess.Popen(
        command(behaviour, space), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if csv.is_file() and len(pd.read_csv(csv)) >= 2:
            break
        time.sleep(0.05)
    process.kill()
    process.wait()
    assert len(pd.read_csv(csv)) == 2
    runs_before = set((behaviour.parent / "out" / "src_behavior_model").glob("behaviour-*"))

    done = subprocess.run(command(behaviour, space), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    rows = pd.read_csv(csv)
    assert list(rows["trial"]) == [1, 2, 3, 4] and rows["val_score"].notna().all()
    new_runs = set((behaviour.parent / "out" / "src_behavior_model").glob("behaviour-*")) - runs_before
    assert len(new_runs) == 2 and {str(p) for p in new_runs} == set(rows["run_dir"][2:])
    best = read_toml(result["best_config"])
    assert result["best_val_score"] == rows["val_score"].max()
    assert (
        best["model"]["kind"] == "mlp" and best["model"]["d_model"] == result["best_params"]["model.d_model"]
    )
