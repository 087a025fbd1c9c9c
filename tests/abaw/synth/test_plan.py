import numpy as np
import pytest

from abaw.errors import AbawError
from abaw.synth.plan import PANEL, make_plan, rng
from abaw.synth.presets import FPS_CHOICES, PRESETS, Preset


def test_plan_is_deterministic_and_seed_dependent():
    tiny = PRESETS["tiny"]
    assert make_plan(tiny, 3) == make_plan(tiny, 3)
    assert make_plan(tiny, 3) != make_plan(tiny, 4)


def test_tiny_covers_every_frame_rate_containers_and_splits():
    plan = make_plan(PRESETS["tiny"], 0)
    assert {rec.fps for rec in plan} == set(FPS_CHOICES)
    assert {rec.container for rec in plan} == {"mp4", "avi"}
    videos = {s: sum(len(rec.videos) for rec in plan if rec.split == s) for s in ("train", "val", "test")}
    assert videos == {"train": 6, "val": 3, "test": 3}
    assert all(150 <= rec.frames <= 400 for rec in plan)


def test_some_name_lies_about_its_frame_rate():
    for seed in range(5):
        plan = make_plan(PRESETS["tiny"], seed)
        assert any(rec.name_fps is not None and abs(rec.name_fps - rec.fps) > 0.5 for rec in plan)
        named = [rec for rec in plan if rec.name_fps is not None]
        assert all(rec.stem.split("-")[1] == str(rec.name_fps) for rec in named)
        assert all(rec.stem.startswith("video") for rec in plan if rec.name_fps is None)


def test_two_person_recordings_are_left_right_pairs_side_by_side():
    plan = make_plan(PRESETS["tiny"], 0)
    pairs = [rec for rec in plan if rec.persons == 2]
    assert len(pairs) == 3
    for rec in pairs:
        assert rec.videos == (f"{rec.stem}_left", f"{rec.stem}_right")
        assert (rec.width, rec.height) == (2 * PANEL, PANEL)
    stems = [rec.stem for rec in plan]
    assert len(set(stems)) == len(stems)


def test_label_only_preset_hits_exact_frame_totals():
    preset = Preset("small", videos=(30, 8, 12), pairs=(2, 1, 1), media=False,
                    frames=(90_001, 20_000, 45_555))
    plan = make_plan(preset, 7)
    for split, total in zip(("train", "val", "test"), preset.frames, strict=True):
        assert sum(rec.frames * rec.persons for rec in plan if rec.split == split) == total
    assert all(rec.container == "" and rec.file == "" for rec in plan)


def test_ntsc_rate_is_exact_for_ffmpeg():
    rec = next(r for r in make_plan(PRESETS["tiny"], 0) if abs(r.fps - 29.97) < 0.01)
    assert rec.rate == "30000/1001"
    assert rec.duration == pytest.approx(rec.frames * 1001 / 30000)


def test_streams_depend_only_on_their_keys():
    a = rng(0, "video1", "face").random(3)
    rng(0, "video2", "face").random(100)
    assert np.array_equal(a, rng(0, "video1", "face").random(3))
    assert not np.array_equal(a, rng(1, "video1", "face").random(3))


def test_negative_seed_is_refused():
    with pytest.raises(AbawError, match="non-negative"):
        make_plan(PRESETS["tiny"], -1)
