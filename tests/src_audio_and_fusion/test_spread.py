from __future__ import annotations

import numpy as np
import pytest

from abaw.clips import ClipRule, plan_clips
from abaw.tables import make_meta, windows_table
from src_audio_and_fusion.bins import bin_rows, bin_times
from src_audio_and_fusion.spread import FrameLayout, interpolate, spread_steps


def make_table(frames, fps, rows=None, min_length=1.0):
    frames = np.asarray(frames)
    fps = np.asarray(fps, np.float64)
    rows = frames if rows is None else np.asarray(rows)
    videos = np.array([f"v{i}" for i in range(len(frames))])
    plan = plan_clips(frames, fps, ClipRule(4.0, 2.0, min_length), videos)
    video = plan.video_of_row()
    meta = make_meta("windows", "val", "audio", "test")
    return windows_table(videos, plan.offsets, start=plan.start, stop=plan.stop, meta=meta,
                         label=np.zeros((plan.n_clips, 4, 2), np.float32), begin=plan.begin, end=plan.end,
                         fps=fps[video], stream_rows=rows[video])


def reference_interpolate(table, steps):
    layout = FrameLayout.of(table)
    total = np.zeros((layout.n_frames, steps.shape[2]))
    count = np.zeros(layout.n_frames)
    cols = table.columns
    b0, b1, valid = bin_times(cols["begin"], cols["end"], steps.shape[1])
    for k, v in enumerate(table.video_of_row()):
        n = int(cols["stream_rows"][k])
        centres = ((b0[k] + b1[k]) / 2)[valid[k]]
        for r in range(int(cols["start"][k]), min(int(cols["stop"][k]), n)):
            for c in range(steps.shape[2]):
                value = np.interp(r / cols["fps"][k], centres, steps[k, valid[k], c])
                total[layout.offsets[v] + r, c] += value
            count[layout.offsets[v] + r] += 1
    out = np.full(total.shape, np.nan)
    out[count > 0] = total[count > 0] / count[count > 0, None]
    return fill_reference(out, layout)


def fill_reference(out, layout):
    for v in range(len(layout.videos)):
        a, b = layout.offsets[v], layout.offsets[v + 1]
        covered = [i for i in range(a, b) if not np.isnan(out[i]).any()]
        for i in range(a, b):
            if np.isnan(out[i]).all():
                out[i] = out[min(covered, key=lambda j: (abs(j - i), j))]
    return out


@pytest.mark.parametrize("fps", [30.0, 30000 / 1001, 25.0, 7.5])
def test_interpolation_matches_the_reference(fps: float) -> None:
    rng = np.random.default_rng(int(fps * 10))
    frames = np.concatenate([rng.integers(2, round(4 * fps), 3),
                             rng.integers(round(4 * fps), round(25 * fps), 4)])
    rows = frames - rng.integers(0, 3, len(frames)) * (frames > 5)
    # A 1.5 s minimum tail leaves the end of some streams uncovered, so nearest fill is exercised.
    table = make_table(frames, np.full(len(frames), fps), rows, min_length=1.5)
    steps = rng.normal(size=(table.n_rows, 4, 2)).astype(np.float32)
    got = interpolate(table, FrameLayout.of(table), steps)
    np.testing.assert_allclose(got, reference_interpolate(table, steps), rtol=1e-5, atol=1e-5)


def test_embeddings_take_the_covering_steps() -> None:
    rng = np.random.default_rng(1)
    frames, fps = np.array([50, 300, 181]), np.array([10.0, 30000 / 1001, 25.0])
    table = make_table(frames, fps)
    steps = rng.normal(size=(table.n_rows, 4, 5)).astype(np.float32)
    layout = FrameLayout.of(table)
    got = spread_steps(table, layout, steps, block=2)
    cols = table.columns
    b0, b1, valid = bin_times(cols["begin"], cols["end"], 4)
    lo, hi = bin_rows(b0, b1, cols["fps"])
    total = np.zeros((layout.n_frames, 5))
    count = np.zeros(layout.n_frames)
    for k, v in enumerate(table.video_of_row()):
        for s in np.flatnonzero(valid[k]):
            end = min(hi[k, s], cols["stop"][k], cols["stream_rows"][k])
            for r in range(max(lo[k, s], cols["start"][k]), end):
                total[layout.offsets[v] + r] += steps[k, s]
                count[layout.offsets[v] + r] += 1
    expected = np.full(total.shape, np.nan)
    expected[count > 0] = total[count > 0] / count[count > 0, None]
    np.testing.assert_allclose(got, fill_reference(expected, layout), rtol=1e-5, atol=1e-5)
    assert layout.frames().tolist()[:3] == [1, 2, 3] and layout.n_frames == frames.sum()
