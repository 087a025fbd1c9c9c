"""The CLI itself: where it runs from, and how user mistakes come out."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGE = ROOT / "src_visual_dynamic_model"


def run(args, cwd=ROOT, main="src_visual_dynamic_model/main.py"):
    return subprocess.run([sys.executable, main, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=180)


@pytest.mark.parametrize("cwd, main", [(ROOT, "src_visual_dynamic_model/main.py"), (STAGE, "main.py")])
def test_runs_from_the_root_and_from_its_folder(cwd, main):
    done = run(["--help"], cwd=cwd, main=main)
    assert done.returncode == 0
    for command in ("extract", "train", "export", "predict", "explain"):
        assert command in done.stdout


def test_a_user_mistake_is_one_line_and_exit_1(mini):
    done = run(["train", "--config", mini, "--set", "train.hop_length=0"])
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "train.hop_length" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("args, message", [
    (["train"], "run `src_visual_dynamic_model/main.py extract"),  # nothing extracted yet
    (["predict"], "exactly one of --template"),
    (["extract", "--shard", "3/2"], "--shard"),
    (["extract", "--set", "model.width=3"], "--set model.width=3: unknown key width in [model]; valid keys"),
    (["export", "--checkpoint", "missing.pt"], "no checkpoint there"),
])
def test_user_mistakes_in_process(mini, capsys, args, message):
    from src_visual_dynamic_model.main import main

    assert main([args[0], "--config", str(mini), *args[1:]]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]
    assert not (mini.parent / "out" / "src_visual_dynamic_model").exists()  # no run left behind


def test_extract_from_inside_the_folder_with_json(mini):
    done = run(["extract", "--config", mini, "--split", "val", "--json"], cwd=STAGE, main="main.py")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["val"]["videos"] == 2 and result["val"]["crops"] == 32


def test_a_truncated_cache_is_one_line_everywhere_until_extract_repairs_it(trained_mini, tmp_path, capsys):
    from src_visual_dynamic_model.main import main

    path, _, _ = trained_mini
    copy = tmp_path / "copy"
    shutil.copytree(path.parent, copy)
    config = str(copy / "config.toml")
    cut = copy / "features" / "val" / "va_a.npz"
    cut.write_bytes(cut.read_bytes()[:200])
    for args in (["train"], ["export"], ["predict", "--split", "val"],
                 ["explain", "--video", "va_a", "--frame", "3"]):
        assert main([args[0], "--config", config, *args[1:]]) == 1, args
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith(f"error: {cut}: damaged or incomplete ("), args
        assert "rerun `src_visual_dynamic_model/main.py extract`" in err[-1]
        assert not any("Traceback" in line for line in err)
    assert main(["extract", "--config", config, "--split", "val"]) == 0
    assert "val: 2 videos (1 extracted, 1 reused)" in capsys.readouterr().out
    assert main(["predict", "--config", config, "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"using the newest complete run of train.name 'visual': {copy / 'out'}")


def test_set_paths_resolve_against_the_working_directory(mini, tmp_path, monkeypatch):
    from src_visual_dynamic_model.main import main

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["extract", "--config", str(mini), "--split", "val", "--set", "data.output_root=out",
                 "--set", "extract.features=''"]) == 0
    assert (elsewhere / "out" / "visual_features" / "val" / "manifest.jsonl").is_file()
    assert not (mini.parent / "out").exists()
