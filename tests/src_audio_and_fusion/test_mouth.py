from __future__ import annotations

import numpy as np
import pytest

from abaw.errors import AbawError
from src_audio_and_fusion.mouth import (
    blip_frames,
    gap_frames,
    mouth_columns,
    read_openmouth,
    smooth_open,
)


def reference_smooth(flags: list[bool], fps: float) -> list[bool]:
    """Frame by frame: fill closed gaps between open frames, then drop short open runs."""
    gap, blip = max(1, round(0.15 * fps)), max(1, round(0.20 * fps))
    out = list(flags)
    i = 0
    while i < len(out):
        if not out[i]:
            j = i
            while j < len(out) and not out[j]:
                j += 1
            if i > 0 and j < len(out) and j - i <= gap:
                for k in range(i, j):
                    out[k] = True
            i = j
        else:
            i += 1
    i = 0
    while i < len(out):
        if out[i]:
            j = i
            while j < len(out) and out[j]:
                j += 1
            if j - i <= blip:
                for k in range(i, j):
                    out[k] = False
            i = j
        else:
            i += 1
    return out


@pytest.mark.parametrize("fps", [7.0, 15.0, 24.0, 25.0, 30000 / 1001, 30.0, 12.5])
def test_smoothing_matches_the_reference(fps: float) -> None:
    rng = np.random.default_rng(int(fps * 1000))
    for _ in range(60):
        n = int(rng.integers(0, 120))
        p = rng.uniform(0.1, 0.9)
        # Runs of random lengths so that short and long gaps and blips both occur, at both ends too.
        flags = np.repeat(rng.random(n) < p, rng.integers(1, 8, n))[:n]
        assert smooth_open(flags, fps).tolist() == reference_smooth(flags.tolist(), fps)


def test_run_lengths_follow_the_frame_rate() -> None:
    assert (gap_frames(30.0), blip_frames(30.0)) == (4, 6)
    assert (gap_frames(5.0), blip_frames(2.0)) == (1, 1)
    flags = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1], bool)
    assert smooth_open(flags, 30.0).all()  # a 4-frame gap at 30 fps is filled
    flags[7:12] = False
    assert not smooth_open(flags, 30.0)[7:12].any()  # a 5-frame gap is not


def write_csv(path, frames, flags, extra: bool = True) -> None:
    lines = [",frame,surface_area_mouth,mouth_open" if extra else "frame,mouth_open"]
    for i, (f, o) in enumerate(zip(frames, flags, strict=True)):
        lines.append(f"{i},{f:05d},12.5,{o}" if extra else f"{f},{o}")
    path.write_text("\n".join(lines) + "\n")


def test_read_uses_one_based_frames(tmp_path) -> None:
    path = tmp_path / "v.csv"
    write_csv(path, [1, 2, 4, 6], [1, 0, 1, 1])
    present, is_open = read_openmouth(path, 5)
    assert present.tolist() == [True, True, False, True, False]  # frame 6 is past the stream
    assert is_open.tolist() == [True, False, False, True, False]
    coverage, open_sec = mouth_columns(present, is_open, np.array([0, 3]), np.array([4, 5]), 2.0)
    assert coverage.tolist() == [0.75, 0.5]
    assert open_sec.tolist() == [1.0, 0.5]


@pytest.mark.parametrize("body, message", [
    ("frame,open\n1,1\n", "no 'mouth_open' column"),
    ("idx,mouth_open\n1,1\n", "no 'frame' column"),
    ("frame,mouth_open\n1,1\n3,0\n2,1\n", "v.csv:4: frame 2 does not come after frame 3"),
    ("frame,mouth_open\n1,1\n2,7\n", "v.csv:3: mouth_open"),
    ("frame,mouth_open\n0,1\n", "is not a 1-based frame number"),
])
def test_bad_files_are_named(tmp_path, body: str, message: str) -> None:
    path = tmp_path / "v.csv"
    path.write_text(body)
    with pytest.raises(AbawError, match=message):
        read_openmouth(path, 10)


def test_missing_file_says_what_to_do(tmp_path) -> None:
    with pytest.raises(AbawError, match="reliability.policy"):
        read_openmouth(tmp_path / "none.csv", 10)
