import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from abaw.submission import validate_submission
from abaw.tables import read_table
from tests.src_fusion_model.conftest import make_fusion

MAIN = Path(__file__).resolve().parents[2] / "src_fusion_model" / "main.py"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(MAIN), *args], capture_output=True, text=True)


@pytest.mark.parametrize("audio", [False, True], ids=["two", "three"])
def test_train_export_gives_a_valid_submission(tmp_path, audio):
    config = make_fusion(tmp_path, audio=audio)
    if not audio:  # two modalities: face and behaviour
        text = config.read_text().replace('["face<-behaviour", "face<-face", "behaviour<-face"]',
                                          '["face<-behaviour", "face<-face"]')
        config.write_text(text)
    done = cli("train", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "mean gate weight on val" in done.stdout
    out = tmp_path / "export"
    done = cli("export", "--config", str(config), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert validate_submission(tmp_path / "test_template.txt", out / "submission.txt") == []
    val = read_table(out / "val.npz", kind="frames")
    gates = val.columns["gate"]
    np.testing.assert_allclose(gates.sum(axis=1), 1.0, atol=1e-5)
    assert val.n_rows == 51 and (out / "predictions" / "val" / "va_a.txt").is_file()
    run = next((tmp_path / "out" / "src_fusion_model").glob("fusion-*"))
    assert (run / "val_gates.png").is_file() and "gate_face<-behaviour" in (run / "report.md").read_text()
