import numpy as np
import pytest

from abaw.errors import AbawError
from abaw.windows import (
    expand_segments,
    fill_nearest,
    nearest_index,
    stitch,
    window_index,
    window_starts,
    window_weights,
    windows_of,
)


@pytest.mark.parametrize(
    ("n", "window", "hop", "expected"),
    [
        (1000, 400, 150, [0, 150, 300, 450, 600]),  # 600 + 400 == 1000: the hop grid already ends there
        (1100, 400, 150, [0, 150, 300, 450, 600, 700]),  # 700 is the end-aligned extra window
        (401, 400, 150, [0, 1]),
        (400, 400, 150, [0]),
        (37, 400, 150, [0]),
        (0, 400, 150, []),
        (10, 4, 4, [0, 4, 6]),
        (5, 1, 1, [0, 1, 2, 3, 4]),
    ],
)
def test_window_starts(n, window, hop, expected):
    starts = window_starts(n, window, hop)
    assert starts.dtype == np.int64
    assert starts.tolist() == expected
    if n:
        covered = np.zeros(n, bool)
        for s in starts:
            covered[s : s + window] = True
        assert covered.all()
        assert starts[-1] + min(window, n) == n


@pytest.mark.parametrize(("window", "hop"), [(400, 0), (400, -5), (400, 401), (0, 1)])
def test_window_starts_rejects_bad_hop(window, hop):
    with pytest.raises(AbawError, match="windows: "):
        window_starts(1000, window, hop)


def test_windows_of_and_window_index_pad_short_sequences():
    starts, valid_len = windows_of(5, 8, 4)
    assert starts.tolist() == [0] and valid_len.tolist() == [5]
    index, mask = window_index(starts, 8, 5)
    assert index.tolist() == [[0, 1, 2, 3, 4, 4, 4, 4]]
    assert mask.tolist() == [[True] * 5 + [False] * 3]
    starts, valid_len = windows_of(1100, 400, 150)
    assert valid_len.tolist() == [400] * 6
    index, mask = window_index(starts, 400, 1100)
    assert index.shape == (6, 400) and mask.all() and index[-1, -1] == 1099


def loop_stitch(n, starts, values, weights):
    total = np.zeros((n, values.shape[2]))
    weight = np.zeros(n)
    for k, s in enumerate(starts):
        for j in range(values.shape[1]):
            if s + j < n:
                total[s + j] += weights[j] * values[k, j]
                weight[s + j] += weights[j]
    out = np.full((n, values.shape[2]), np.nan)
    out[weight > 0] = total[weight > 0] / weight[weight > 0, None]
    return out


@pytest.mark.parametrize("weighting", ["mean", "centre", "gaussian"])
def test_stitch_matches_loop_reference(weighting):
    rng = np.random.default_rng(0)
    n, window = 230, 40
    starts = window_starts(n, window, 15)
    values = rng.normal(size=(starts.size, window, 2))
    got = stitch(n, starts, values, weighting)
    assert got.dtype == np.float32 and got.shape == (n, 2)
    expected = loop_stitch(n, starts, values, window_weights(window, weighting))
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_stitch_mean_of_overlaps_and_uncovered_nan():
    values = np.array([[[1.0], [1.0], [1.0]], [[3.0], [3.0], [3.0]]])
    out = stitch(8, np.array([0, 2]), values)
    np.testing.assert_array_equal(out[:, 0], [1, 1, 2, 3, 3, np.nan, np.nan, np.nan])


def test_stitch_truncates_windows_past_the_end_and_honours_valid():
    values = np.arange(12, dtype=float).reshape(2, 6, 1)
    valid = np.ones((2, 6), bool)
    valid[1, 0] = False
    out = stitch(8, np.array([0, 4]), values, valid=valid)
    # window 1 covers 4..9 but 8 and 9 are past the end; its first position is masked out.
    np.testing.assert_array_equal(out[:, 0], [0, 1, 2, 3, 4, 6, 8, 9])


def test_stitch_with_nothing_to_stitch():
    empty = stitch(0, np.array([0]), np.ones((1, 4, 2)))
    assert empty.shape == (0, 2) and empty.dtype == np.float32
    none_valid = stitch(5, np.array([0]), np.ones((1, 4, 2)), valid=np.zeros((1, 4), bool))
    assert none_valid.shape == (5, 2) and np.isnan(none_valid).all()
    no_window = stitch(3, np.zeros(0, np.int64), np.ones((0, 4, 2, 3)))
    assert no_window.shape == (3, 2, 3) and np.isnan(no_window).all()


def test_window_weights_shapes():
    np.testing.assert_array_equal(window_weights(5, "centre"), [1, 2, 3, 2, 1])
    np.testing.assert_array_equal(window_weights(4, "centre"), [1, 2, 2, 1])
    g = window_weights(9, "gaussian")
    assert g.argmax() == 4 and np.allclose(g, g[::-1]) and g.min() > 0
    with pytest.raises(AbawError, match="unknown weighting"):
        window_weights(9, "median")


def test_centre_weighting_favours_the_window_whose_centre_is_nearer():
    values = np.array([[[0.0]] * 5, [[10.0]] * 5])
    out = stitch(7, np.array([0, 2]), values, "centre")
    # frame 2 is the centre of window 0 (weight 3) and the first frame of window 1 (weight 1).
    assert out[2, 0] == pytest.approx(10 * 1 / 4)
    assert out[4, 0] == pytest.approx(10 * 3 / 4)


def test_nearest_index_ties_go_to_the_earlier():
    available = np.array([False, True, False, False, True, False, False, False, True, False])
    assert nearest_index(available).tolist() == [1, 1, 1, 4, 4, 4, 4, 8, 8, 8]
    assert nearest_index(np.array([], bool)).tolist() == []
    with pytest.raises(AbawError, match="no position is available"):
        nearest_index(np.zeros(4, bool))


def test_nearest_index_matches_brute_force():
    rng = np.random.default_rng(1)
    available = rng.random(500) < 0.1
    positions = np.flatnonzero(available)
    expected = [positions[np.argmin(np.abs(positions - i))] for i in range(500)]
    assert nearest_index(available).tolist() == expected


def test_fill_nearest_copies_whole_rows():
    values = np.array([[np.nan, np.nan], [1.0, 2.0], [np.nan, np.nan], [np.nan, 5.0], [7.0, 8.0]])
    out = fill_nearest(values)
    np.testing.assert_array_equal(out, [[1, 2], [1, 2], [1, 2], [np.nan, 5], [7, 8]])
    assert np.isnan(values[0, 0])  # input untouched
    with pytest.raises(AbawError):
        fill_nearest(np.full((3, 2), np.nan))


def test_expand_segments_mean_over_overlaps():
    starts = np.array([0, 2, 6])
    stops = np.array([4, 6, 12])  # the last one runs past n and is clipped
    values = np.array([[1.0, 10.0], [3.0, np.nan], [5.0, 50.0]])
    out = expand_segments(10, starts, stops, values)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0], [1, 1, 2, 2, 3, 3, 5, 5, 5, 5])
    np.testing.assert_array_equal(out[:, 1], [10, 10, 10, 10, np.nan, np.nan, 50, 50, 50, 50])
    gap = expand_segments(6, np.array([0, 4]), np.array([2, 6]), np.array([[1.0], [2.0]]))
    np.testing.assert_array_equal(gap[:, 0], [1, 1, np.nan, np.nan, 2, 2])


def test_expand_segments_matches_loop_reference():
    rng = np.random.default_rng(2)
    n = 300
    starts = np.sort(rng.integers(0, n, 60))
    stops = starts + rng.integers(1, 50, 60)
    values = rng.normal(size=(60, 2))
    total, count = np.zeros((n, 2)), np.zeros(n)
    for s, e, v in zip(starts, stops, values, strict=True):
        total[s : min(e, n)] += v
        count[s : min(e, n)] += 1
    expected = np.where(count[:, None] > 0, total / np.maximum(count, 1)[:, None], np.nan)
    np.testing.assert_allclose(expand_segments(n, starts, stops, values), expected, atol=1e-6)


def test_expand_segments_of_a_video_without_segments_is_all_nan():
    out = expand_segments(4, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3)))
    assert out.shape == (4, 3) and out.dtype == np.float32 and np.isnan(out).all()
    assert expand_segments(0, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3))).shape == (0, 3)


def test_expand_segments_rejects_reversed_segments():
    with pytest.raises(AbawError, match=r"segments \[1\] stop before they start"):
        expand_segments(10, np.array([0, 5]), np.array([3, 4]), np.zeros((2, 2)))
