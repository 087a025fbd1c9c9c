import json

import numpy as np
import pytest

from abaw.affwild import index_split, read_annotation, read_template
from abaw.config import DataConfig, load_section
from abaw.errors import AbawError
from abaw.synth.generator import DATA_TOML, GENERATOR_VERSION, PENDING, generate
from abaw.synth.presets import Preset

SMALL = Preset("small", videos=(12, 4, 6), pairs=(1, 1, 1), media=False, frames=(30_000, 8_000, 12_345))
SPLIT_DIRS = {"train": "Train_Set", "val": "Validation_Set", "test": "Test_Set"}


def test_tiny_layout_matches_its_description(tiny_dataset, tiny_description):
    d = tiny_description
    assert d["version"] == GENERATOR_VERSION and d["preset"] == "tiny" and d["seed"] == 0 and d["media"]
    assert set(d["parameters"]) == {"trajectory", "expression", "voice", "features"}
    assert not (tiny_dataset / PENDING).exists()
    for split, set_name in SPLIT_DIRS.items():
        index = index_split(tiny_dataset / "annotations", split)
        assert d["splits"][split] == {"videos": len(index.videos), "frames": index.n_frames,
                                      "labelled": int((~np.isnan(index.labels[:, 0])).sum())}
        files = sorted(p.stem for p in (tiny_dataset / "annotations" / set_name).glob("*.txt"))
        assert files == list(index.videos)
    assert d["splits"]["train"]["videos"] == 6 and d["splits"]["test"]["videos"] == 3
    for video, info in d["videos"].items():
        recording = next(r for r in d["recordings"] if r["stem"] == info["recording"])
        assert video in recording["videos"] and info["fps"] == recording["fps"]
        assert info["duration"] == pytest.approx(info["frames"] / info["fps"], abs=1e-3)
        bursts = np.array(info["speech_seconds"]).reshape(-1, 2)
        assert ((bursts[:, 1] - bursts[:, 0]) >= 0.5 - 1e-3).all() and bursts.max() <= info["duration"] + 1e-3
        assert 0 < info["speaking_frames"] < info["frames"]


def test_data_toml_points_at_the_dataset(tiny_dataset):
    data = load_section(DataConfig, tiny_dataset / "data.toml", "data")
    assert data.annotations == tiny_dataset / "annotations"
    assert data.test_template == tiny_dataset / "test_template.txt"
    assert data.cropped_aligned.is_dir() and data.videos.is_dir()
    assert data.output_root == tiny_dataset / "outputs"


def test_template_has_one_row_per_test_frame(tiny_dataset):
    template = read_template(tiny_dataset / "test_template.txt")
    index = index_split(tiny_dataset / "annotations", "test")
    assert template.n_rows == index.n_frames
    assert sorted(template.videos) == sorted(index.videos)
    for video in index.videos:
        assert np.array_equal(template.frames[template.rows(video)], index.frames[index.rows(video)])
    lines = (tiny_dataset / "test_template.txt").read_text().splitlines()
    assert lines[0] == "image_location,valence,arousal" and lines[1].endswith(".jpg,0,0")


def test_unlabelled_frames_come_in_stretches(tiny_dataset, tiny_description):
    for video, info in tiny_description["videos"].items():
        labels = read_annotation(tiny_dataset / "annotations" / SPLIT_DIRS[info["split"]] / f"{video}.txt")
        missing = np.isnan(labels[:, 0])
        assert missing.sum() == info["frames"] - info["labelled"] > 0
        assert (np.isnan(labels[:, 1]) == missing).all()
        starts = np.flatnonzero(np.diff(np.concatenate([[0], missing.astype(int)])) == 1)
        assert 1 <= len(starts) <= 2 and missing.sum() >= 3 * len(starts)  # runs, not single frames
        assert np.abs(labels[~missing]).max() <= 1


def test_label_only_preset_with_features(tmp_path):
    summary = generate(tmp_path / "s", SMALL, seed=1, features_dim=4, progress=False)
    assert summary["frames"] == {"train": 30_000, "val": 8_000, "test": 12_345}
    assert summary["videos"] == {"train": 12, "val": 4, "test": 6} and summary["crops"] == 0
    root = tmp_path / "s"
    assert not (root / "videos").exists() and not (root / "cropped_aligned").exists()
    assert (root / "data.toml").read_text() == DATA_TOML
    for split in ("train", "val", "test"):
        caches = sorted((root / "features" / split).glob("*.npz"))
        assert len(caches) == summary["videos"][split]
    assert len(read_template(root / "test_template.txt").frames) == 12_345


def test_same_seed_gives_byte_identical_labels(tmp_path):
    generate(tmp_path / "a", SMALL, seed=5, progress=False)
    generate(tmp_path / "b", SMALL, seed=5, progress=False)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 22 + 3
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    generate(tmp_path / "c", SMALL, seed=6, progress=False)
    a, c = ((tmp_path / run / "test_template.txt").read_bytes() for run in ("a", "c"))
    assert a != c


def test_a_folder_with_other_content_is_refused_unless_forced(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(AbawError, match="not written by abaw synth.*--force"):
        generate(out, SMALL, progress=False)
    generate(out, SMALL, seed=1, progress=False, force=True)
    assert (out / "notes.txt").read_text() == "mine"  # only the generator's own entries are replaced
    with pytest.raises(AbawError, match="other settings"):
        generate(out, SMALL, seed=2, progress=False)
    (out / "outputs").mkdir()
    generate(out, SMALL, seed=1, progress=False)  # the same dataset again is fine
    assert (out / "outputs").is_dir()


def test_an_interrupted_run_is_detectable_and_can_be_resumed(tmp_path):
    out = tmp_path / "e"
    generate(out, SMALL, seed=3, progress=False)
    description = json.loads((out / "dataset.json").read_text())
    (out / "dataset.json").unlink()
    (out / PENDING).write_text(json.dumps(description["request"]))
    generate(out, SMALL, seed=3, progress=False)
    assert json.loads((out / "dataset.json").read_text()) == description


@pytest.mark.parametrize("kwargs, message", [
    ({"workers": 0}, "--workers"), ({"seed": -2}, "--seed"), ({"features_dim": 0}, "--features"),
    ({"preset": "nope"}, "preset"),
])
def test_bad_arguments_are_user_errors(tmp_path, kwargs, message):
    with pytest.raises(AbawError, match=message):
        generate(tmp_path / "f", **{"preset": SMALL, "progress": False, **kwargs})
    assert not (tmp_path / "f").exists()


def test_out_must_be_a_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(AbawError, match="not a folder"):
        generate(tmp_path / "file", SMALL, progress=False)


def test_a_finished_dataset_with_the_same_settings_is_reused(tmp_path):
    out = tmp_path / "f"
    first = generate(out, SMALL, seed=4, progress=False)
    stamp = (out / "test_template.txt").stat().st_mtime_ns
    again = generate(out, SMALL, seed=4, progress=False)
    assert (first["cached"], again["cached"]) == (False, True)
    assert {k: again[k] for k in ("videos", "frames", "labelled")} == {
        k: first[k] for k in ("videos", "frames", "labelled")}
    assert (out / "test_template.txt").stat().st_mtime_ns == stamp
    assert generate(out, SMALL, seed=4, progress=False, force=True)["cached"] is False
