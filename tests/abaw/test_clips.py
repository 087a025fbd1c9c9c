import numpy as np
import pytest

from abaw.clips import TIME_TOLERANCE, ClipRule, plan_clips
from abaw.errors import AbawError


def reference(frames: int, fps: float, rule: ClipRule) -> list[tuple[float, float, int, int]]:
    """The rule as the sentence states it, one clip at a time: (begin, end, start row, stop row)."""
    duration = frames / fps
    if duration <= rule.length + TIME_TOLERANCE:
        return [(0.0, duration, 0, frames)]
    clips = []
    k = 0
    while True:
        t = k * rule.hop
        if t + rule.length < duration - TIME_TOLERANCE:
            clips.append((t, t + rule.length, round(t * fps), min(round((t + rule.length) * fps), frames)))
            k += 1
            continue
        if duration - t >= rule.min_length - TIME_TOLERANCE and round(t * fps) < frames:
            clips.append((t, duration, round(t * fps), frames))  # ends exactly at the duration, or a tail
        return clips


def as_list(plan, i):
    rows = plan.rows(str(plan.videos[i]))
    return list(zip(plan.begin[rows], plan.end[rows], plan.start[rows], plan.stop[rows], strict=True))


def check_against_reference(frames, fps, rule):
    plan = plan_clips(frames, fps, rule)
    for i, (n, rate) in enumerate(zip(frames, fps, strict=True)):
        got, want = as_list(plan, i), reference(int(n), float(rate), rule)
        assert len(got) == len(want), (n, rate)
        for g, w in zip(got, want, strict=True):
            assert g[0] == pytest.approx(w[0]) and g[1] == pytest.approx(w[1])
            assert (g[2], g[3]) == (w[2], w[3]), (n, rate, g, w)


def test_random_videos_match_the_reference_loop():
    rng = np.random.default_rng(0)
    fps = rng.choice([15.0, 24.0, 25.0, 30000 / 1001, 30.0, 7.5, 59.94, 12.345], size=3000)
    frames = rng.integers(1, 2000, size=3000)
    check_against_reference(frames, fps, ClipRule())


@pytest.mark.parametrize("rule", [ClipRule(3.0, 1.0, 0.5), ClipRule(4.0, 4.0, 0.0), ClipRule(2.5, 1.5, 2.5)])
def test_other_rules_match_the_reference_loop(rule):
    rng = np.random.default_rng(1)
    check_against_reference(rng.integers(1, 600, size=800), rng.uniform(5.0, 60.0, size=800), rule)


def test_tails_exact_ends_and_short_videos():
    # 25 fps: 11 s -> [0,4] [2,6] [4,8] [6,10] + tail [8,11]; 10 s -> clip [6,10] ends exactly, list ends;
    # 8.5 s -> [0,4] [2,6] [4,8] then the tail [6, 8.5]; 3 s and exactly 4 s -> one clip.
    plan = plan_clips([275, 250, 212, 75, 100], [25.0] * 5, videos=["a", "b", "c", "d", "e"])
    assert plan.begin[plan.rows("a")].tolist() == [0, 2, 4, 6, 8]
    assert plan.end[plan.rows("a")].tolist() == [4, 6, 8, 10, 11]
    assert plan.stop[plan.rows("a")].tolist() == [100, 150, 200, 250, 275]
    assert plan.end[plan.rows("b")].tolist() == [4, 6, 8, 10]
    assert plan.stop[plan.rows("b")][-1] == 250
    assert plan.end[plan.rows("c")].tolist() == [4, 6, 8, 8.48]
    assert (plan.start[plan.rows("d")].tolist(), plan.stop[plan.rows("d")].tolist()) == ([0], [75])
    assert (plan.start[plan.rows("e")].tolist(), plan.stop[plan.rows("e")].tolist()) == ([0], [100])


def test_tail_shorter_than_min_length_is_dropped():
    # 30 fps, 6.5 s: [0,4] [2,6]; at t = 4 a tail of 2.5 s is kept; with hop 2 a tail is always >= 2 s,
    # so use hop 3: [0,4] [3,7] and the tail [6, 7.5] is 1.5 s, dropped under min_length 2.
    plan = plan_clips([225], [30.0], ClipRule(4.0, 3.0, 2.0))
    assert plan.begin.tolist() == [0, 3]
    plan = plan_clips([225], [30.0], ClipRule(4.0, 3.0, 1.5))
    assert plan.begin.tolist() == [0, 3, 6] and plan.stop[-1] == 225


def test_rows_round_half_to_even():
    # 12.5 fps: t = 2 s is row 25, t = 6 s is row 75; at 6.25 fps 2 s = 12.5 -> 12, 6 s = 37.5 -> 38.
    plan = plan_clips([100], [6.25])
    assert plan.start.tolist()[:3] == [0, 12, 25]
    assert plan.stop.tolist()[:2] == [25, 38]


def test_non_integer_fps_rows_stay_inside_the_video_and_cover_it():
    fps = 30000 / 1001
    plan = plan_clips([1234], [fps])
    assert plan.stop.max() == 1234 and plan.start[0] == 0
    assert np.all(plan.stop > plan.start)
    assert np.all(plan.start[1:] <= plan.stop[:-1])  # overlapping clips leave no frame uncovered


def test_empty_input_and_bad_timing():
    assert plan_clips([], []).n_clips == 0
    with pytest.raises(AbawError, match="video v: 0 frames"):
        plan_clips([0], [25.0], videos=["v"])
    with pytest.raises(AbawError, match="positive frame rate"):
        plan_clips([10], [0.0])
    with pytest.raises(AbawError, match="length and hop"):
        ClipRule(4.0, 0.0)
