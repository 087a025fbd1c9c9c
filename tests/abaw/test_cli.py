import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def abaw(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "abaw", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True)


def write_split(root: Path) -> Path:
    train = root / "Train_Set"
    train.mkdir(parents=True)
    (train / "a.txt").write_text("valence,arousal\n0.1,0.2\n-5,-5\n0.3,0.4\n")
    (train / "b.txt").write_text("valence,arousal\n0.5,-0.5\n")
    return root


def test_json_result_is_the_last_stdout_line(tmp_path):
    proc = abaw("index", "--annotations", write_split(tmp_path), "--split", "train", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {
        "videos": 2, "frames": 4, "labelled": 3, "missing": 1,
    }


def test_user_mistake_is_one_line_and_exit_1(tmp_path):
    root = write_split(tmp_path)
    (root / "Train_Set" / "c.txt").write_text("valence,arousal\n0.1;0.2\n")
    proc = abaw("index", "--annotations", root, "--split", "train")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "c.txt:2" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_every_command_is_registered():
    proc = abaw("--help")
    for command in ("synth", "index", "doctor", "baseline", "validate-submission", "evaluate", "merge",
                    "convert"):
        assert command in proc.stdout
