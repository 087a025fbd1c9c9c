import csv

import cv2
import numpy as np
import pytest

from abaw.affwild import read_annotation
from abaw.synth import media, voices
from abaw.synth.plan import PANEL, Recording, make_plan
from abaw.synth.presets import PRESETS
from abaw.synth.trajectories import person_tracks, speaking

PAIR = Recording(stem="3-24-480x240", split="train", fps=15.0, name_fps=24, frames=60, persons=2,
                 container="mp4", width=2 * PANEL, height=PANEL)


def render(root, rec=PAIR, seed=0):
    job = media.Job(root, seed, rec, tuple(person_tracks(seed, rec, speech=True)))
    return job, media.render_recording(job)


def test_same_seed_gives_identical_frames_audio_and_crops(tmp_path):
    _, counts_a = render(tmp_path / "a")
    _, counts_b = render(tmp_path / "b")
    assert counts_a == counts_b
    a, b = tmp_path / "a" / PAIR.file, tmp_path / "b" / PAIR.file
    frames_a = media.read_frames(a)
    assert frames_a.shape == (PAIR.frames, PAIR.height, PAIR.width, 3)
    assert np.array_equal(frames_a, media.read_frames(b))
    assert np.array_equal(media.decode_audio(a), media.decode_audio(b))
    for name in PAIR.videos:
        crops = sorted((tmp_path / "a" / "cropped_aligned" / name).iterdir())
        twins = tmp_path / "b" / "cropped_aligned" / name
        assert crops and all(c.read_bytes() == (twins / c.name).read_bytes() for c in crops)
    render(tmp_path / "c", seed=1)
    assert not np.array_equal(frames_a, media.read_frames(tmp_path / "c" / PAIR.file))


def test_audio_track_is_the_mix_of_both_voices(tmp_path):
    job, _ = render(tmp_path)
    pcm = media.audio(job)
    assert len(pcm) == round(PAIR.duration * voices.SAMPLE_RATE)
    decoded = media.decode_audio(tmp_path / PAIR.file)
    assert abs(len(decoded) - len(pcm)) <= voices.SAMPLE_RATE / PAIR.fps
    n = min(len(decoded), len(pcm))
    assert np.corrcoef(decoded[:n], pcm[:n] / 32768)[0, 1] > 0.9  # AAC keeps the waveform


def recordings(description: dict, container: str | None = None) -> list[dict]:
    return [r for r in description["recordings"] if container is None or r["file"].endswith(container)]


def test_opencv_reads_the_frame_count_each_annotation_implies(tiny_dataset, tiny_description):
    assert {r["file"].rsplit(".", 1)[1] for r in recordings(tiny_description)} == {"mp4", "avi"}
    for rec in recordings(tiny_description):
        capture = cv2.VideoCapture(str(tiny_dataset / rec["file"]))
        decoded = 0
        while capture.grab():
            decoded += 1
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == decoded == rec["frames"], rec["file"]
        assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(rec["fps"], abs=1e-3)
        for video in rec["videos"]:
            split = {"train": "Train_Set", "val": "Validation_Set", "test": "Test_Set"}[rec["split"]]
            assert len(read_annotation(tiny_dataset / "annotations" / split / f"{video}.txt")) == decoded


def test_a_name_lies_about_the_measured_frame_rate(tiny_dataset, tiny_description):
    liars = [r for r in recordings(tiny_description) if r["name_fps"] and abs(r["name_fps"] - r["fps"]) > 0.5]
    assert liars
    rec = liars[0]
    measured = cv2.VideoCapture(str(tiny_dataset / rec["file"])).get(cv2.CAP_PROP_FPS)
    assert f"-{rec['name_fps']}-" in rec["stem"] and abs(measured - rec["name_fps"]) > 0.5


def test_audio_decodes_at_the_length_of_the_video(tiny_dataset, tiny_description):
    for rec in recordings(tiny_description):
        samples = len(media.decode_audio(tiny_dataset / rec["file"]))
        assert samples / voices.SAMPLE_RATE == pytest.approx(rec["duration"], abs=1 / rec["fps"]), rec["file"]


def test_pairs_are_two_faces_in_one_wide_video(tiny_dataset, tiny_description):
    pairs = [r for r in recordings(tiny_description) if len(r["videos"]) == 2]
    assert len(pairs) == 3
    for rec in pairs:
        frame = media.read_frames(tiny_dataset / rec["file"])[0]
        assert frame.shape == (PANEL, 2 * PANEL, 3)
        assert rec["videos"] == [f"{rec['stem']}_left", f"{rec['stem']}_right"]
        left, right = (cv2.imread(str(tiny_dataset / "cropped_aligned" / v / "00001.jpg"))
                       for v in rec["videos"])
        if left is not None and right is not None:
            assert not np.array_equal(left, right)


def test_crops_have_short_gaps_where_no_face_is_seen(tiny_dataset, tiny_description):
    gaps = 0
    for video, info in tiny_description["videos"].items():
        frames = sorted(int(p.stem) for p in (tiny_dataset / "cropped_aligned" / video).glob("*.jpg"))
        assert len(frames) == info["crops"] == info["face_frames"]
        assert frames[0] >= 1 and frames[-1] <= info["frames"]
        missing = info["frames"] - len(frames)
        assert 0 < missing < 0.3 * info["frames"]  # a few short runs
        gaps += missing
        image = cv2.imread(str(tiny_dataset / "cropped_aligned" / video / f"{frames[0]:05d}.jpg"))
        assert image.shape == (112, 112, 3)
    assert gaps > 0


def test_openmouth_rows_are_the_frames_with_a_crop(tiny_dataset, tiny_description):
    for video, info in tiny_description["videos"].items():
        with open(tiny_dataset / "openmouth" / f"{video}.csv", newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == ["", "frame", "surface_area_mouth", "mouth_open"]
        body = rows[1:]
        assert [int(r[0]) for r in body] == list(range(len(body)))
        assert all(len(r[1]) == 5 for r in body)
        crops = sorted(p.stem for p in (tiny_dataset / "cropped_aligned" / video).glob("*.jpg"))
        assert [r[1] for r in body] == crops
        assert {r[3] for r in body} <= {"0", "1"} and sum(r[3] == "1" for r in body) == info["mouth_open"]
        assert all(float(r[2]) >= 0 for r in body)


def test_the_mouth_is_open_more_often_while_speaking(tiny_dataset):
    talking, silent = [], []
    for rec in make_plan(PRESETS["tiny"], 0):
        for video, track in zip(rec.videos, person_tracks(0, rec, speech=True), strict=True):
            with open(tiny_dataset / "openmouth" / f"{video}.csv", newline="") as fh:
                rows = list(csv.reader(fh))[1:]
            frames = np.array([int(r[1]) for r in rows])
            is_open = np.array([r[3] == "1" for r in rows])
            speech = speaking(track.bursts, (frames - 1) / rec.fps)
            talking.append(is_open[speech])
            silent.append(is_open[~speech])
    assert np.concatenate(talking).mean() > np.concatenate(silent).mean() + 0.2
