import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from abaw.tables import read_table

ROOT = Path(__file__).resolve().parents[2]


def stage(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    script = ROOT / "src_behavior_description" / "main.py"
    command = [sys.executable, str(script), *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


def test_segments_command_writes_every_split(config_file):
    config = config_file()
    proc = stage("segments", "--config", config, "--json", cwd=ROOT / "src_behavior_description")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(result) == {"train", "val", "test"}
    for counts in result.values():
        table = read_table(counts["table"], "segments")
        assert table.n_rows == counts["clips"]
        assert Path(counts["csv"]).is_file()
    assert result["test"]["labelled"] == 0 and result["train"]["labelled"] == result["train"]["clips"]


def test_user_mistakes_are_one_line(config_file, tmp_path):
    config = config_file()
    proc = stage("segments", "--config", config, "--set", "sampling.max_frame=8")
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and "max_frames" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = stage("inspect", "--config", config, "--video", "video4", "--clip", "1")
    assert proc.returncode == 1 and "its streams are video4_left, video4_right" in proc.stderr
    proc = stage("inspect", "--config", config, "--video", "video4_left", "--clip", "99")
    assert proc.returncode == 1 and "--clip 99: stream video4_left has" in proc.stderr
    proc = stage("describe", "--config", config, "--set", f"data.video_timing={tmp_path / 'absent.csv'}")
    assert proc.returncode == 1 and "absent.csv: video timing file not found" in proc.stderr
    proc = stage("describe", "--config", config, "--set", "describer.kind=qwen3vl",
                 "--set", f"describer.path={tmp_path}")
    assert proc.returncode == 1 and "is not a Qwen3-VL checkpoint" in proc.stderr
    assert not (tmp_path / "out" / "src_behavior_description" / "descriptions").exists()


def test_inspect_draws_the_sampled_frames_with_the_description(config_file, tmp_path):
    config = config_file()
    png = tmp_path / "sheet.png"
    proc = stage("inspect", "--config", config, "--video", "7-24-480x240_right", "--clip", "1", "--out", png,
                 "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["split"] == "train" and result["frames"] == 8 and result["video_tokens"] > 0
    assert np.isfinite(result["label"]).all()
    image = np.asarray(Image.open(png))
    assert image.shape[0] > 100 and image.shape[1] > 400
