import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from abaw.affwild import VideoInfo
from abaw.errors import AbawError
from abaw.manifest import Manifest, read_manifest
from abaw.tables import read_table
from abaw.timing import write_timing
from src_behavior_description.config import descriptions_dir
from src_behavior_description.describe import check_identity, describe_split, identity_of, prepare_split
from src_behavior_description.segments import plan_split

ROOT = Path(__file__).resolve().parents[2]
NAMES = [f"{s}_{t}" for s in ("mm", "visual", "prompt", "desc") for t in ("mean", "std", "last")]


def texts(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_split_gives_the_planned_clips_with_12_vectors(described, describer):
    cfg, results = described
    for split, counts in results.items():
        sp = plan_split(cfg.data, cfg.clips, split)
        table = read_table(counts["table"], "segments")
        assert table.videos.tolist() == sp.streams.tolist()
        assert np.array_equal(table.offsets, sp.plan.offsets)
        assert np.array_equal(table.columns["start"], sp.plan.start)
        assert np.array_equal(table.columns["stop"], sp.plan.stop)
        np.testing.assert_array_equal(table.columns["label"], sp.labels)
        embedded = sorted(c.removeprefix("embedding/") for c in table.columns if c.startswith("embedding/"))
        assert embedded == sorted(NAMES)
        for name in NAMES:
            vectors = table.columns[f"embedding/{name}"]
            assert vectors.dtype == np.float16 and vectors.shape == (sp.plan.n_clips, describer.width)
            assert np.isfinite(vectors).all()
        assert table.columns["described"].all()
        lines = texts(Path(counts["texts"]))
        assert [(d["video"], d["start"], d["stop"]) for d in lines] == list(zip(
            np.repeat(sp.streams, np.diff(sp.plan.offsets)).tolist(), sp.plan.start.tolist(),
            sp.plan.stop.tolist(), strict=True))
        assert all(d["video_tokens"] > 0 and 1 <= d["generated_tokens"] <= 3 for d in lines)
        assert table.columns["video_tokens"].tolist() == [d["video_tokens"] for d in lines]
    assert np.isnan(read_table(results["test"]["table"]).columns["label"]).all()


def test_left_and_right_streams_are_described_once_from_their_base_video(described):
    cfg, results = described
    table = read_table(results["train"]["table"])
    left = next(v for v in table.videos.tolist() if v.endswith("_left"))
    right = left.replace("_left", "_right")
    for name in NAMES:
        column = table.columns[f"embedding/{name}"]
        assert np.array_equal(column[table.rows(left)], column[table.rows(right)])
    parts = sorted(p.stem for p in (descriptions_dir(cfg) / "train" / "parts").glob("*.npz"))
    assert parts == sorted(set(plan_split(cfg.data, cfg.clips, "train").bases.tolist()))
    assert results["train"]["videos"] == len(parts) == results["train"]["streams"] - 1


def test_a_rerun_describes_nothing_again(described, describer):
    cfg, results = described
    calls = describer.forward_calls
    again = describe_split(cfg, describer, prepare_split(cfg, "val"))
    assert again["described"] == 0 and again["reused"] == results["val"]["videos"]
    assert describer.forward_calls == calls


def test_shards_merged_equal_one_unsharded_run(described, describer, tmp_path):
    cfg, results = described
    sharded = dataclasses.replace(cfg, describe=dataclasses.replace(cfg.describe, out=tmp_path / "shards"))
    parts = [describe_split(sharded, describer, prepare_split(sharded, "train", (i, 2))) for i in range(2)]
    assert sum(p["videos"] for p in parts) == results["train"]["videos"]
    out = tmp_path / "merged" / "train.npz"
    command = [sys.executable, "-m", "abaw", "merge", out, *(p["table"] for p in parts)]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    merged, whole = read_table(out), read_table(results["train"]["table"])
    assert merged.videos.tolist() == whole.videos.tolist()
    assert set(merged.columns) == set(whole.columns)
    for name, column in whole.columns.items():
        np.testing.assert_allclose(merged.columns[name].astype(np.float64), column.astype(np.float64),
                                   rtol=2e-3, atol=2e-3, err_msg=name)
    merged_texts = texts(out.with_name("train.texts.jsonl"))
    whole_texts = texts(Path(results["train"]["texts"]))
    assert [(d["video"], d["start"]) for d in merged_texts] == [(d["video"], d["start"]) for d in whole_texts]
    assert [d["description"] for d in merged_texts] == [d["description"] for d in whole_texts]


def test_another_instruction_is_refused_with_what_changed(described, describer):
    cfg, _ = described
    folder = descriptions_dir(cfg) / "val"
    identity = identity_of(cfg, describer)
    other = {**identity, "describer": {**identity["describer"], "instruction": "0123"}}
    with pytest.raises(AbawError, match=r"videos here were described with another describer.instruction"):
        check_identity(Manifest(folder, "not-the-same"), other, folder)


@pytest.fixture
def broken_dataset(tmp_path):
    """One val stream whose video file is not a video; its timing comes from a CSV."""
    (tmp_path / "ann" / "Validation_Set").mkdir(parents=True)
    (tmp_path / "ann" / "Validation_Set" / "bad.txt").write_text("valence,arousal\n" + "0.1,0.2\n" * 150)
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "bad.mp4").write_bytes(b"\x00garbage" * 500)
    return write_timing(tmp_path / "timing.csv", {"bad": VideoInfo(25.0, 150)})


def test_unreadable_clips_are_recorded_and_the_run_goes_on(make_cfg, describer, broken_dataset):
    root = broken_dataset.parent
    cfg = make_cfg(name="broken")
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(
        cfg.data, annotations=root / "ann", videos=root / "videos", video_timing=broken_dataset))
    with pytest.raises(AbawError, match=r"bad.mp4: clip 0 \[0, 100\): .*cannot open the video.*--fail-fast"):
        describe_split(cfg, describer, prepare_split(cfg, "val"), fail_fast=True)
    assert not (descriptions_dir(cfg) / "val.npz").exists()
    counts = describe_split(cfg, describer, prepare_split(cfg, "val"))
    assert counts["failed_clips"] == 2
    errors = texts(descriptions_dir(cfg) / "val" / "errors.jsonl")
    assert [(e["video"], e["clip"]) for e in errors[-2:]] == [("bad", 0), ("bad", 1)]
    table = read_table(counts["table"])
    assert not table.columns["described"].any()
    assert np.isnan(table.columns["embedding/mm_mean"]).all()


def test_killed_run_keeps_finished_videos_and_leaves_no_corrupt_file(make_cfg, tmp_path):
    cfg = make_cfg("\n[describe]\nsplits = [\"train\"]\n", name="killed")
    config = cfg.data.output_root.parent / "behaviour.toml"
    folder = descriptions_dir(cfg) / "train"
    command = [sys.executable, "src_behavior_description/main.py", "describe", "--config", config,
               "--set", "describer.batch_size=1", "--set", "sampling.workers=1"]
    proc = subprocess.Popen(command,
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and len(read_manifest(folder)) < 2:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = read_manifest(folder)
    assert 2 <= len(finished) < 5, "the run was to be killed between videos 2 and 5"
    stamps = {v: (folder / "parts" / f"{v}.npz").stat().st_mtime_ns for v in finished}
    assert not (descriptions_dir(cfg) / "train.npz").exists()
    from src_behavior_description.describer import Describer

    counts = describe_split(cfg, Describer.load(cfg.describer), prepare_split(cfg, "train"))
    assert counts["reused"] == len(finished) and counts["described"] == 5 - len(finished)
    assert {v: (folder / "parts" / f"{v}.npz").stat().st_mtime_ns for v in finished} == stamps
    read_table(counts["table"])
    assert not list(folder.rglob("*.tmp")) or all(p.name.startswith(".") for p in folder.rglob("*.tmp"))


def test_probe_scores_every_vector_on_validation(described):
    from src_behavior_description.probe import probe

    cfg, _ = described
    scores = probe(descriptions_dir(cfg))
    assert sorted(scores) == sorted(NAMES)
    assert all(-1 <= s["ccc_arousal"] <= 1 and np.isfinite(s["score"]) for s in scores.values())
