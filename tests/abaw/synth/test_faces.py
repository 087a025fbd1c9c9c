import dataclasses

import numpy as np
import pytest

from abaw.synth import faces
from abaw.synth.plan import PANEL, Recording, rng
from abaw.synth.trajectories import Track, envelope, person_tracks

REC = Recording(stem="video1", split="train", fps=25.0, name_fps=None, frames=750, persons=1, container="mp4",
                width=320, height=240)


@pytest.fixture(scope="module")
def person():
    track = person_tracks(0, REC, speech=True)[0]
    style = faces.face_style(rng(0, "face"))
    return track, style, faces.expression(track, style, REC.fps, rng(0, "expression"))


def corr(x, y) -> float:
    return float(np.corrcoef(x, y)[0, 1])


def test_expression_follows_valence_and_arousal_with_noise(person):
    track, _, p = person
    assert 0.5 < corr(p["curve"], track.valence) < 0.99  # informative, yet noisy per frame
    assert 0.3 < corr(p["eye"], track.arousal) < 0.99
    assert corr(p["blush"], track.arousal) > 0.3
    assert all(len(v) == REC.frames and np.isfinite(v).all() for v in p.values())


def test_arousal_moves_the_head_and_hands():
    track = person_tracks(0, REC, speech=True)[0]
    style = faces.face_style(rng(0, "face"))
    calm, excited = (dataclasses.replace(track, arousal=np.full(REC.frames, a, np.float32))
                     for a in (-0.8, 0.8))
    p_calm = faces.expression(calm, style, REC.fps, rng(0, "e"))
    p_excited = faces.expression(excited, style, REC.fps, rng(0, "e"))
    assert np.abs(np.diff(p_excited["dx"])).mean() > 2 * np.abs(np.diff(p_calm["dx"])).mean()
    assert p_excited["hand_y"].mean() < p_calm["hand_y"].mean() - 0.5  # hands come up into view


def test_the_mouth_opens_with_speech(person):
    track, _, p = person
    times = (np.arange(REC.frames) + 0.5) / REC.fps
    talking = envelope(track.syllables, times) > 0.5
    assert p["mouth"][talking].mean() > p["mouth"][~talking].mean() + 0.2
    assert corr(p["mouth_area"], p["mouth"]) > 0.9


def test_renderer_draws_the_face_and_cuts_an_aligned_crop(person):
    track, style, p = person
    scene = faces.scene(rng(0, "scene"), REC.width, REC.height, REC.frames, REC.fps)
    renderer = faces.FaceRenderer(style, p, track.face, (REC.width - PANEL) / 2)
    frame = scene.background.copy()
    renderer.draw(frame, 10)
    assert (frame != scene.background).any(axis=2).mean() > 0.2
    scene.finish(frame, 10)
    crop = renderer.crop(frame, 10)
    assert crop.shape == (faces.CROP, faces.CROP, 3) and crop.dtype == np.uint8
    again = scene.background.copy()
    renderer.draw(again, 10)
    scene.finish(again, 10)
    assert np.array_equal(frame, again)


def test_valence_changes_the_crop_where_the_mouth_is(person):
    track, style, _ = person
    crops = []
    for v in (-0.9, 0.9):
        steady = Track(valence=np.full(50, v, np.float32), arousal=np.zeros(50, np.float32),
                       labelled=np.ones(50, bool), face=np.ones(50, bool), bursts=np.zeros((0, 2)),
                       syllables=np.zeros((0, 2)))
        p = faces.expression(steady, style, 25.0, rng(0, "same"))
        background = np.full((PANEL, PANEL, 3), 128, np.uint8)
        renderer = faces.FaceRenderer(style, p, steady.face, 0)
        frame = background.copy()
        renderer.draw(frame, 0)
        crops.append(renderer.crop(frame, 0).astype(int))
    change = np.abs(crops[0] - crops[1]).sum(axis=2)
    assert change[70:105].sum() > 3 * change[:35].sum()  # the mouth, not the hair
