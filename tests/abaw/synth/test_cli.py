import json

from abaw.cli import main


def test_synth_scale_prints_a_summary_and_json(tmp_path, capsys):
    out_dir = tmp_path / "scale"
    assert main(["synth", "--preset", "scale", "--out", str(out_dir), "--seed", "2", "--json"]) == 0
    out = capsys.readouterr().out.splitlines()
    result = json.loads(out[-1])
    assert result["frames"] == {"train": 1_682_057, "val": 383_814, "test": 927_210}
    assert result["videos"] == {"train": 356, "val": 76, "test": 162} and result["seed"] == 2
    assert any("1,682,057 frames" in line for line in out)
    assert json.loads((out_dir / "dataset.json").read_text())["preset"] == "scale"


def test_synth_refuses_a_foreign_folder_with_one_line(tmp_path, capsys):
    (tmp_path / "x.txt").write_text("x")
    assert main(["synth", "--preset", "scale", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--force" in err and len(err.strip().splitlines()) == 1
