"""`windows` on a hand-made layout timed by a `[data] video_timing` CSV (no video files needed)."""

from __future__ import annotations

import numpy as np
import pytest

from abaw.errors import AbawError
from src_audio_and_fusion import config as stage_config
from src_audio_and_fusion.audio_windows import build_windows
from src_audio_and_fusion.mouth import mouth_columns, read_openmouth, smooth_open

# stream -> (annotation rows, video frames, fps); "pair_left"/"pair_right" share video "pair".
STREAMS = {"long": (700, 700, 30000 / 1001), "short": (75, 75, 25.0), "pair_left": (300, 301, 30.0),
           "pair_right": (300, 301, 30.0)}


def write_layout(root, streams=STREAMS, mouth: bool = True) -> None:
    rng = np.random.default_rng(0)
    for split_dir in ("Train_Set", "Validation_Set"):
        folder = root / "annotations" / split_dir
        folder.mkdir(parents=True)
        for stream, (rows, _, _) in streams.items():
            values = rng.uniform(-1, 1, (rows, 2))
            values[rng.random(rows) < 0.1] = -5
            lines = ["valence,arousal"] + [f"{v:.3f},{a:.3f}" for v, a in values]
            (folder / f"{stream}.txt").write_text("\n".join(lines) + "\n")
    videos = {s.removesuffix("_left").removesuffix("_right"): (f, fps) for s, (_, f, fps) in streams.items()}
    (root / "timing.csv").write_text("video,fps,frames\n" + "".join(
        f"{v},{fps!r},{f}\n" for v, (f, fps) in videos.items()))
    (root / "template.txt").write_text("image_location,valence,arousal\nlong/00001.jpg,0,0\n")
    if mouth:
        (root / "openmouth").mkdir()
        for stream, (rows, _, _) in streams.items():
            frames = np.flatnonzero(rng.random(rows) < 0.9) + 1
            flags = np.repeat(rng.random(rows) < 0.5, 3)[:rows][frames - 1].astype(int)
            (root / "openmouth" / f"{stream}.csv").write_text(
                "frame,mouth_open,other\n"
                + "".join(f"{f},{o},x\n" for f, o in zip(frames, flags, strict=True)))


def load(root, *overrides):
    text = f"""
[data]
annotations = "{root}/annotations"
test_template = "{root}/template.txt"
videos = "{root}/videos"
output_root = "{root}/out"
video_timing = "{root}/timing.csv"

[reliability]
openmouth = "{root}/openmouth"
"""
    (root / "cfg.toml").write_text(text)
    return stage_config.load(root / "cfg.toml", list(overrides))


def test_windows_follow_the_clip_rule_and_mouth_counts(tmp_path) -> None:
    write_layout(tmp_path)
    cfg = load(tmp_path)
    table = build_windows(cfg, "train")
    cols = table.columns
    short = table.rows("short")
    assert cols["begin"][short].tolist() == [0.0] and cols["end"][short].tolist() == [3.0]
    assert np.isnan(cols["label"][short][0, 3]).all()  # the fourth second starts at the video's end
    assert not cols["has_audio"].any() and not cols["reliable"].any()  # extract-audio has not run
    for stream, (_, frames, fps) in STREAMS.items():
        at = table.rows(stream)
        present, is_open = read_openmouth(tmp_path / "openmouth" / f"{stream}.csv", frames)
        smoothed = smooth_open(is_open, fps)
        for k in range(at.start, at.stop):
            s, e = int(cols["start"][k]), int(cols["stop"][k])
            assert cols["coverage"][k] == pytest.approx(present[s:e].mean())
            assert cols["open_sec"][k] == pytest.approx(smoothed[s:e].sum() / fps)
        coverage, open_sec = mouth_columns(present, smoothed, cols["start"][at], cols["stop"][at], fps)
        np.testing.assert_array_equal(coverage, cols["coverage"][at])
    assert np.isnan(cols["speech_ratio"]).all()
    left, right = table.rows("pair_left"), table.rows("pair_right")
    np.testing.assert_array_equal(cols["start"][left], cols["start"][right])


def test_policy_none_needs_no_mouth_files(tmp_path) -> None:
    write_layout(tmp_path, mouth=False)
    with pytest.raises(AbawError, match="long.csv: mouth-openness file not found"):
        build_windows(load(tmp_path), "train")
    table = build_windows(load(tmp_path, "reliability.policy=\"none\""), "val")
    assert np.isnan(table.columns["coverage"]).all()


def test_a_stream_longer_than_its_video_is_refused(tmp_path) -> None:
    write_layout(tmp_path, {"long": (700, 690, 30.0)})
    with pytest.raises(AbawError, match="stream long has 700 annotation rows but its video long has 690"):
        build_windows(load(tmp_path), "train")


def test_steps_must_be_one_second_bins(tmp_path) -> None:
    write_layout(tmp_path)
    with pytest.raises(AbawError, match="windows.steps = 2"):
        load(tmp_path, "windows.steps=2")
