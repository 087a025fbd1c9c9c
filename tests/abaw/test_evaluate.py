import json

import numpy as np
import pandas as pd
import pytest

from abaw.affwild import index_folder, read_template
from abaw.cli import main
from abaw.errors import AbawError
from abaw.evaluate import evaluate, read_predictions
from abaw.metrics import ccc, va_score
from abaw.submission import HEADER, write_submission, write_video_txts
from abaw.tables import frames_table, make_meta, write_table

LENGTHS = {"clip_a": 60, "clip_b_left": 45, "clip_b_right": 45, "clip_c": 80}


@pytest.fixture
def dataset(tmp_path):
    """A Validation_Set folder with a few -5 frames, and predictions = truth + noise rounded to 6 decimals."""
    rng = np.random.default_rng(7)
    set_dir = tmp_path / "Validation_Set"
    set_dir.mkdir()
    for video, n in LENGTHS.items():
        t = np.arange(n)
        labels = np.stack([np.sin(t / 9 + n), np.cos(t / 13 + n)], axis=1) * 0.8
        labels[rng.choice(n, 4, replace=False)] = -5
        text = "valence,arousal\n" + "".join(f"{v:.4f},{a:.4f}\n" for v, a in labels)
        (set_dir / f"{video}.txt").write_text(text.replace("-5.0000", "-5"))
    index = index_folder(set_dir)
    noise = rng.normal(0, 0.3, (index.n_frames, 2)) * (1 + index.video_of_row()[:, None])
    truth = np.nan_to_num(index.labels, nan=0.0)
    predictions = np.round(np.clip(truth + noise, -1, 1), 6)
    return set_dir, index, predictions


def write_all_formats(tmp_path, index, predictions):
    """The same predictions as a flat file, a TXT folder and a frames table."""
    keys = [f"{v}/{f:05d}.jpg" for v, f in zip(index.videos[index.video_of_row()], index.frames, strict=True)]
    template_path = tmp_path / "template.txt"
    template_path.write_text(HEADER + "\n" + "".join(f"{k},0,0\n" for k in keys))
    flat = write_submission(tmp_path / "flat.csv", read_template(template_path), predictions)
    txt = write_video_txts(tmp_path / "txt", index.videos, index.offsets, predictions)
    table = tmp_path / "frames.npz"
    write_table(table, frames_table(index.videos, index.offsets, frame=index.frames, prediction=predictions,
                                    meta=make_meta("frames", "val", "face", "test")))
    return {"flat": flat, "txt": txt, "table": table}


def test_three_formats_give_the_official_score(tmp_path, dataset):
    set_dir, index, predictions = dataset
    expected = va_score(predictions, index.labels)
    scores = {}
    for name, path in write_all_formats(tmp_path, index, predictions).items():
        result = evaluate(set_dir, path, tmp_path / f"eval_{name}")
        assert result["coverage"] == 1.0
        assert result["labelled"] == result["covered"] == int((~np.isnan(index.labels).all(axis=1)).sum())
        for key in ("ccc_valence", "ccc_arousal", "score"):
            assert result[key] == pytest.approx(expected[key], abs=1e-6), name
        scores[name] = result["score"]
    assert scores["flat"] == pytest.approx(scores["txt"], abs=1e-6)
    assert scores["table"] == pytest.approx(scores["flat"], abs=1e-6)
    assert 0.1 < scores["flat"] < 0.95


def test_per_video_csv_and_plot_are_written(tmp_path, dataset):
    set_dir, index, predictions = dataset
    paths = write_all_formats(tmp_path, index, predictions)
    result = evaluate(set_dir, paths["txt"])
    out = tmp_path / "txt.eval"
    assert result["per_video_csv"] == str(out / "per_video.csv")
    table = pd.read_csv(out / "per_video.csv")
    assert list(table.columns) == ["video", "frames", "labelled", "covered", "ccc_valence", "ccc_arousal"]
    assert list(table["video"]) == sorted(LENGTHS)
    assert list(table["frames"]) == [LENGTHS[v] for v in sorted(LENGTHS)]
    assert list(table["labelled"]) == [LENGTHS[v] - 4 for v in sorted(LENGTHS)]
    rows = index.rows("clip_c")
    labelled = ~np.isnan(index.labels[rows, 0])
    expected = ccc(predictions[rows][labelled, 0], index.labels[rows][labelled, 0])
    assert table.set_index("video").loc["clip_c", "ccc_valence"] == pytest.approx(expected, abs=1e-6)
    png = (out / "evaluation.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_partial_predictions_report_coverage(tmp_path, dataset, capsys):
    set_dir, index, predictions = dataset
    txt = write_all_formats(tmp_path, index, predictions)["txt"]
    (txt / "clip_a.txt").unlink()
    lines = (txt / "clip_c.txt").read_text().splitlines()
    (txt / "clip_c.txt").write_text("\n".join(lines[:51]) + "\n")  # header + frames 1..50 of 80
    (txt / "extra_video.txt").write_text("valence,arousal\n0.1,0.1\n")

    code = main(["evaluate", "--annotations", str(set_dir), "--predictions", str(txt), "--json"])
    captured = capsys.readouterr()
    assert code == 0
    result = json.loads(captured.out.splitlines()[-1])
    labelled = ~np.isnan(index.labels).all(axis=1)
    covered = labelled.copy()
    covered[index.rows("clip_a")] = False
    covered[index.rows("clip_c").start + 50:index.rows("clip_c").stop] = False
    assert result["coverage"] == pytest.approx(covered.sum() / labelled.sum())
    assert result["coverage"] < 0.8
    expected = va_score(predictions[covered], index.labels[covered])
    assert result["score"] == pytest.approx(expected["score"], abs=1e-6)
    assert f"coverage:    {result['coverage']:.2%}" in captured.out
    assert "warning: coverage" in captured.err
    assert "1 predictions match no annotated frame (videos not annotated here: extra_video)" in captured.err
    per_video = pd.read_csv(tmp_path / "txt.eval" / "per_video.csv").set_index("video")
    assert per_video.loc["clip_a", "covered"] == 0 and np.isnan(per_video.loc["clip_a", "ccc_valence"])
    assert per_video.loc["clip_c", "covered"] == np.sum(~np.isnan(index.labels[index.rows("clip_c")][:50, 0]))


def test_nan_and_minus_5_predictions_are_not_covered(tmp_path, dataset):
    set_dir, index, predictions = dataset
    flat = write_all_formats(tmp_path, index, predictions)["flat"]
    lines = flat.read_text().splitlines()
    lines[1] = lines[1].split(",")[0] + ",nan,0.5"
    lines[2] = lines[2].split(",")[0] + ",-5,-5"
    flat.write_text("\n".join(lines) + "\n")
    loaded = read_predictions(flat)
    assert np.isnan(loaded.values[:2, 0]).all()
    result = evaluate(set_dir, flat, tmp_path / "out")
    labelled = ~np.isnan(index.labels).all(axis=1)
    assert result["covered"] == labelled.sum() - labelled[:2].sum()


def test_mismatched_names_and_duplicates_are_errors(tmp_path, dataset):
    set_dir, index, _ = dataset
    flat = tmp_path / "p.csv"
    flat.write_text(f"{HEADER}\nother/00001.jpg,0.1,0.1\n")
    with pytest.raises(AbawError, match="no labelled frame .* has a prediction"):
        evaluate(set_dir, flat, tmp_path / "out")
    flat.write_text(f"{HEADER}\nclip_a/00002.jpg,0.1,0.1\nclip_a/00002.jpg,0.2,0.1\n")
    with pytest.raises(AbawError, match=r"p.csv: 1 frame is predicted more than once "
                                        r"\(first: video 'clip_a' frame 2\)"):
        evaluate(set_dir, flat, tmp_path / "out")
    with pytest.raises(AbawError, match="predictions not found"):
        evaluate(set_dir, tmp_path / "absent.csv", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_pkl_is_refused_with_the_way_to_convert_it(tmp_path, dataset):
    set_dir, _, _ = dataset
    pkl = tmp_path / "predictions.pkl"
    pkl.write_bytes(b"\x80\x05\x95\x00")
    with pytest.raises(AbawError, match=r"predictions\.pkl: .*abaw convert --to npz"):
        evaluate(set_dir, pkl, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_evaluate_and_index_take_the_same_annotation_folder(tmp_path, dataset, capsys):
    set_dir, index, predictions = dataset
    flat = write_all_formats(tmp_path, index, predictions)["flat"]
    root = set_dir.parent  # the folder holding Validation_Set/, as `abaw index` takes it
    assert main(["index", "--annotations", str(root), "--split", "val", "--json"]) == 0
    indexed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    scores = []
    for form in (["--annotations", str(root), "--split", "val"], ["--annotations", str(root)],
                 ["--annotations", str(set_dir)]):  # the last is the older form: the split's folder itself
        out = ["--out", str(tmp_path / "e"), "--json"]
        assert main(["evaluate", *form, "--predictions", str(flat), *out]) == 0
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert result["split"] == "val" and result["labelled"] == indexed["labelled"]
        scores.append(result["score"])
    assert scores[0] == scores[1] == scores[2]


def test_evaluate_names_a_missing_or_contradicting_split(tmp_path, dataset, capsys):
    set_dir, index, predictions = dataset
    flat = write_all_formats(tmp_path, index, predictions)["flat"]
    assert main(["evaluate", "--annotations", str(set_dir.parent), "--split", "train",
                 "--predictions", str(flat)]) == 1
    assert "Train_Set: not found; --annotations takes the folder holding" in capsys.readouterr().err
    assert main(["evaluate", "--annotations", str(set_dir), "--split", "train",
                 "--predictions", str(flat)]) == 1
    assert "this is the val split's folder but --split is train" in capsys.readouterr().err
