import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from abaw.affwild import index_split, read_template
from abaw.blend import (
    BlendOptions,
    Moments,
    PartData,
    fit_weights,
    grid_weights,
    leaderboard,
    parse_sources,
    run_blend,
)
from abaw.cli import main
from abaw.config import DataConfig, load_section
from abaw.errors import AbawError
from abaw.metrics import ccc, va_score
from abaw.submission import validate_submission, write_submission, write_video_txts
from abaw.tables import frames_table, make_meta, read_table, write_table

ROOT = Path(__file__).resolve().parents[2]
NOISE = {"a": 0.3, "b": 0.5, "c": 0.8}


# --------------------------------------------------------------------------------------------------- weights


def test_moments_give_the_ccc_of_any_weighting():
    rng = np.random.default_rng(0)
    label = rng.normal(size=500)
    values = np.stack([label + rng.normal(0, s, 500) + b for s, b in ((0.3, 0.1), (0.6, -0.2), (1.0, 0.0))])
    weights = rng.dirichlet(np.ones(3), 20)
    expected = [ccc(w @ values, label) for w in weights]
    np.testing.assert_allclose(Moments.of(values, label).ccc(weights), expected, rtol=1e-10)


def test_grid_covers_both_ends_whatever_the_step():
    np.testing.assert_allclose(grid_weights(0.3)[:, 0], [0.0, 0.3, 0.6, 0.9, 1.0])
    np.testing.assert_allclose(grid_weights(0.25).sum(axis=1), 1.0)
    assert len(grid_weights(0.01)) == 101 and grid_weights(1.0).tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_two_sources_take_the_best_grid_point_and_more_take_at_least_the_best_sample():
    rng = np.random.default_rng(1)
    label = rng.normal(size=400)
    values = np.stack([label + rng.normal(0, s, 400) for s in (0.4, 0.7, 0.9, 1.5)])
    moments = Moments.of(values, label)
    pair = moments.subset([0, 1])
    chosen = fit_weights(pair, 0.05, 10, rng)
    assert pair.ccc(chosen)[0] == pytest.approx(pair.ccc(grid_weights(0.05)).max())
    found = fit_weights(moments, 0.05, 200, np.random.default_rng(2))
    assert found.min() >= 0 and found.sum() == pytest.approx(1.0)
    samples = np.random.default_rng(3).dirichlet(np.ones(4), 5000)
    assert moments.ccc(found)[0] >= moments.ccc(samples).max() - 1e-9


def test_a_source_that_only_adds_a_sampling_wiggle_is_left_out():
    rng = np.random.default_rng(0)
    labels = rng.uniform(-1, 1, (400, 2))
    noise, other = rng.normal(0, 0.3, (2, *labels.shape))
    a = labels + noise
    twin = labels + 0.999 * noise + 0.045 * other  # nearly the errors of a: averaging gains little
    part = PartData(np.stack([a, twin]), labels, np.array([0, 400]))
    board, _ = leaderboard(part, part, ["a", "twin"], BlendOptions())
    fit = board.set_index("subset")["fit_score"]
    assert fit["a+twin"] > fit["a"] and fit["a+twin"] - fit["a"] < 1e-4
    assert board.loc[board["chosen"], "subset"].item() == "a"


# ------------------------------------------------------------------------------------------- tiny end to end


def make_sources(root: Path, out: Path) -> dict[str, Path]:
    """Three sources from the labels plus different noise: frames tables, TXT folders + a flat test file,
    and per-split TXT folders; test predictions are noise (the blend never scores them)."""
    rng = np.random.default_rng(0)
    template = read_template(root / "test_template.txt")
    folders = {}
    for name, noise in NOISE.items():
        folder = folders[name] = out / name
        for split in ("train", "val"):
            index = index_split(root / "annotations", split)
            pred = np.clip(np.nan_to_num(index.labels) + rng.normal(0, noise, index.labels.shape), -1, 1)
            if name == "a":
                write_table(folder / f"{split}.npz", frames_table(
                    index.videos, index.offsets, frame=index.frames, prediction=pred,
                    meta=make_meta("frames", split, name, "tests")))
            else:
                sub = folder / "predictions" / split if name == "b" else folder / split
                write_video_txts(sub, index.videos, index.offsets, pred)
        test = rng.uniform(-1, 1, (template.n_rows, 2))
        write_submission(folder / ("submission.txt" if name != "a" else "test.csv"), template, test)
    shutil.move(folders["a"] / "test.csv", out / "a_test.csv")
    return folders


@pytest.fixture
def sources(tiny_dataset, tmp_path) -> tuple[DataConfig, list[str]]:
    folders = make_sources(tiny_dataset, tmp_path / "sources")
    specs = [f"a={folders['a']}", f"a:test={tmp_path / 'sources' / 'a_test.csv'}", str(folders["b"]),
             f"c={folders['c']}"]
    data = load_section(DataConfig, tiny_dataset / "data.toml", "data")
    return data, specs


def fused_scores(board_row: pd.Series, root: Path, folders: dict[str, Path], videos: list[str]) -> dict:
    """The score of a leaderboard row's weights recomputed over `videos` of val from the source files."""
    index = index_split(root / "annotations", "val")
    preds = {"a": read_table(folders["a"] / "val.npz").columns["prediction"]}
    for name, sub in (("b", folders["b"] / "predictions" / "val"), ("c", folders["c"] / "val")):
        preds[name] = _txt(sub, index)
    rows = np.concatenate([np.arange(index.rows(v).start, index.rows(v).stop) for v in videos])
    fused = np.stack([sum(board_row[f"w_{ch}:{n}"] * preds[n][rows, c] for n in NOISE)
                      for c, ch in enumerate(("valence", "arousal"))], axis=1)
    return va_score(fused, index.labels[rows])


def _txt(folder: Path, index) -> np.ndarray:
    from abaw.affwild import index_folder

    read = index_folder(folder)
    assert list(read.videos) == list(index.videos)
    return read.labels


def test_blend_cli_scores_on_frames_not_used_for_fitting(tiny_dataset, sources, tmp_path):
    data, specs = sources
    out = tmp_path / "blend"
    args = [arg for spec in specs for arg in ("--source", spec)]
    done = subprocess.run([sys.executable, "-m", "abaw", "blend", "--config", str(tiny_dataset / "data.toml"),
                           *args, "--out", str(out), "--grid-step", "0.05", "--json"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    board = pd.read_csv(out / "leaderboard.csv")
    assert sorted(board["subset"]) == sorted(["a", "b", "c", "a+b", "a+c", "b+c", "a+b+c"])
    assert board["chosen"].sum() == 1 and result["chosen"] == board.loc[board["chosen"], "subset"].item()
    fit, scored = result["fit_videos"], result["eval_videos"]
    val = index_split(tiny_dataset / "annotations", "val")
    assert not set(fit) & set(scored) and set(fit) | set(scored) == set(val.videos)
    folders = {name: tmp_path / "sources" / name for name in NOISE}
    for _, row in board.iterrows():
        assert fused_scores(row, tiny_dataset, folders, scored)["score"] == pytest.approx(row["eval_score"],
                                                                                           abs=1e-4)
        assert fused_scores(row, tiny_dataset, folders, fit)["score"] == pytest.approx(row["fit_score"],
                                                                                        abs=1e-4)
    best_single = board.loc[board["sources"] == 1, "fit_score"].max()
    assert board.loc[board["subset"] == "a+b+c", "fit_score"].item() >= best_single - 1e-9
    assert validate_submission(data.test_template, out / "submission.txt") == []
    fused_val = read_table(out / "val.npz", kind="frames")
    assert fused_val.meta["split"] == "val" and fused_val.meta["modality"] == "blend"
    np.testing.assert_array_equal(fused_val.columns["label"], val.labels)
    assert read_table(out / "test.npz").n_rows == read_template(data.test_template).n_rows
    assert json.loads((out / "blend.json").read_text())["eval_videos"] == scored


def corrupt(folder: Path, videos: list[str], seed: int) -> None:
    """Replace a TXT source's predictions of `videos` by noise."""
    rng = np.random.default_rng(seed)
    for video in videos:
        path = folder / f"{video}.txt"
        n = len(path.read_text().splitlines()) - 1
        values = rng.uniform(-1, 1, (n, 2))
        path.write_text("valence,arousal\n" + "".join(f"{v:.6f},{a:.6f}\n" for v, a in values))


def test_eval_frames_never_change_the_fitted_weights(sources, tmp_path):
    data, specs = sources
    first = run_blend(data, parse_sources(specs), BlendOptions(grid_step=0.05), tmp_path / "first")
    corrupt(tmp_path / "sources" / "c" / "val", first["eval_videos"], seed=5)
    second = run_blend(data, parse_sources(specs), BlendOptions(grid_step=0.05), tmp_path / "second")
    one, two = first["board"], second["board"]
    weights = [col for col in one.columns if col.startswith("w_")]
    fitted = ["subset", "fit_score", *weights]
    pd.testing.assert_frame_equal(one[fitted], two[fitted])
    with_c = one["subset"].str.contains("c")
    assert (one.loc[with_c, "eval_score"] != two.loc[with_c, "eval_score"]).all()
    assert (one.loc[~with_c, "eval_score"] == two.loc[~with_c, "eval_score"]).all()
    corrupt(tmp_path / "sources" / "c" / "val", first["fit_videos"], seed=6)
    third = run_blend(data, parse_sources(specs), BlendOptions(grid_step=0.05), tmp_path / "third")
    assert not np.allclose(third["board"].loc[with_c, "fit_score"], one.loc[with_c, "fit_score"])


def test_fit_on_train_scores_every_val_frame_with_smoothing(sources, tmp_path):
    data, specs = sources
    result = run_blend(data, parse_sources(specs), BlendOptions(fit="train", smooth=True), tmp_path / "out")
    val = index_split(data.annotations, "val")
    assert sorted(result["eval_videos"]) == sorted(val.videos)
    assert result["protocol"] == "fit on train, scored on val"
    assert {"smooth_valence", "smooth_arousal"} <= set(result["board"].columns)
    assert (tmp_path / "out" / "train.npz").is_file()
    assert validate_submission(data.test_template, tmp_path / "out" / "submission.txt") == []


# ------------------------------------------------------------------------------------------------- bad input


def blend_error(data_toml: Path, specs: list[str], out: Path, capsys, *extra: str) -> str:
    args = [arg for spec in specs for arg in ("--source", spec)]
    assert main(["blend", "--config", str(data_toml), *args, "--out", str(out), *extra]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not out.exists()
    return err


@pytest.mark.parametrize("step", ["0", "1.5", "-0.1"])
def test_a_grid_step_outside_0_1_is_an_error(tiny_dataset, sources, tmp_path, capsys, step):
    err = blend_error(tiny_dataset / "data.toml", sources[1], tmp_path / "out", capsys, "--grid-step", step)
    assert "(0, 1]" in err


def test_a_frames_table_of_another_split_is_an_error(tiny_dataset, sources, tmp_path, capsys):
    folder = tmp_path / "sources" / "a"
    shutil.copy(folder / "train.npz", folder / "val.npz")
    err = blend_error(tiny_dataset / "data.toml", sources[1], tmp_path / "out", capsys)
    assert "source 'a'" in err and "of split 'train'" in err


def test_sources_of_different_lengths_are_an_error(tiny_dataset, sources, tmp_path, capsys):
    path = sorted((tmp_path / "sources" / "c" / "val").glob("*.txt"))[0]
    path.write_text(path.read_text() + "0.1,0.2\n")
    err = blend_error(tiny_dataset / "data.toml", sources[1], tmp_path / "out", capsys)
    assert "'c' differ in length" in err and path.stem in err


def test_a_source_missing_a_template_frame_is_an_error_naming_it(tiny_dataset, sources, tmp_path, capsys):
    path = tmp_path / "sources" / "b" / "submission.txt"
    lines = path.read_text().splitlines()
    dropped = lines.pop(len(lines) // 2).split(",")[0]
    path.write_text("\n".join(lines) + "\n")
    err = blend_error(tiny_dataset / "data.toml", sources[1], tmp_path / "out", capsys)
    video, frame = dropped.split("/")
    assert "source 'b'" in err and "1 test template frames" in err
    assert f"{video} frame {int(frame[:-4])}" in err


def test_a_source_without_a_split_is_an_error_saying_where_it_looked(tiny_dataset, sources, tmp_path, capsys):
    shutil.rmtree(tmp_path / "sources" / "c" / "val")
    err = blend_error(tiny_dataset / "data.toml", sources[1], tmp_path / "out", capsys)
    assert "source 'c' has no val predictions" in err and "c:val=PATH" in err


def test_source_specs():
    with pytest.raises(AbawError, match="SPLIT one of"):
        parse_sources(["a:dev=x.npz"])
    paths = parse_sources(["a:val=x.npz", "a:test=y.txt"])[0].paths
    assert paths == {"val": Path("x.npz"), "test": Path("y.txt")}


def test_an_export_folder_with_frames_tables_is_a_source(tmp_path):
    export = tmp_path / "audio"  # export-audio: frames/<split>.npz beside windows/, submission.txt
    for path in (export / "frames" / "val.npz", export / "windows" / "val.npz", export / "submission.txt"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    paths = parse_sources([str(export)])[0].paths
    assert paths == {"val": export / "frames" / "val.npz", "test": export / "submission.txt"}
