from __future__ import annotations

import math

import numpy as np
import pytest

from abaw.clips import ClipRule, plan_clips
from src_audio_and_fusion.bins import bin_labels, bin_rows, bin_times

FPS = (30.0, 25.0, 30000 / 1001, 24000 / 1001, 15.0, 12.345)


def reference_bins(begin: float, end: float, fps: float, labels: np.ndarray, steps: int) -> np.ndarray:
    """Bin by bin, row by row: the mean of the labelled rows of each 1 s bin."""
    out = np.full((steps, 2), np.nan, np.float32)
    for i in range(steps):
        b0, b1 = begin + i, min(begin + i + 1, end)
        if b0 >= end - 1e-6:
            continue
        lo = math.floor(b0 * fps + 1e-6)
        hi = max(math.ceil(b1 * fps - 1e-6), lo + 1)
        for c in range(2):
            values = [labels[r, c] for r in range(lo, hi) if r < len(labels) and not np.isnan(labels[r, c])]
            if values:
                out[i, c] = np.mean(values)
    return out


@pytest.mark.parametrize("fps", FPS)
def test_bin_labels_match_the_reference(fps: float) -> None:
    rng = np.random.default_rng(round(fps * 100))
    # Videos shorter than one window, around it, and long ones with every kind of tail.
    frames = np.concatenate([rng.integers(1, round(4 * fps) + 2, 8), rng.integers(round(4 * fps), 900, 12)])
    labels_per = []
    for n in frames:
        lab = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
        lab[rng.random(n) < 0.2] = np.nan  # unlabelled frames
        lab[rng.random(n) < 0.05, 1] = np.nan  # a channel missing alone
        if rng.random() < 0.3:  # an annotation shorter than the video
            lab = lab[: max(1, n - int(rng.integers(0, 3 * fps)))]
        labels_per.append(lab)
    plan = plan_clips(frames, np.full(len(frames), fps), ClipRule())
    video = plan.video_of_row()
    b0, b1, valid = bin_times(plan.begin, plan.end, 4)
    lo, hi = bin_rows(b0, b1, np.full(plan.n_clips, fps))
    lengths = np.array([len(x) for x in labels_per])
    base = np.concatenate([[0], np.cumsum(lengths)])[:-1]
    got = bin_labels(np.concatenate(labels_per), base[video], lengths[video], lo, hi, valid)
    for k in range(plan.n_clips):
        expected = reference_bins(plan.begin[k], plan.end[k], fps, labels_per[video[k]], 4)
        np.testing.assert_allclose(got[k], expected, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_tail_bins_start_before_the_end() -> None:
    b0, b1, valid = bin_times(np.array([0.0, 8.0]), np.array([2.5, 9.2]), 4)
    assert valid.tolist() == [[True, True, True, False], [True, True, False, False]]
    assert b1[0, 2] == 2.5 and b1[1, 1] == pytest.approx(9.2)
    lo, hi = bin_rows(b0, b1, np.array([30.0, 30.0]))
    assert lo[0].tolist() == [0, 30, 60, 90] and hi[0, :3].tolist() == [30, 60, 75]
    # 29.97 fps: a bin edge that is not a whole frame covers the frame it falls in from both sides.
    lo, hi = bin_rows(np.array([[1.0]]), np.array([[2.0]]), np.array([30000 / 1001]))
    assert (lo[0, 0], hi[0, 0]) == (29, 60)
