"""The clip rule shared by the behaviour and audio stages: fixed-length clips at a fixed hop over a video.

Clips of `length` seconds start every `hop` seconds: `[t, t + length]` while `t + length < duration`.
A clip ending exactly at the duration is kept and ends the list; otherwise the tail `[t, duration]` is
kept when it lasts at least `min_length`. A video of at most `length` seconds is one clip
`[0, duration]`. In frames, clip `[a, b]` covers the 0-based annotation rows `[round(a*fps),
round(b*fps))` (round half to even; a clip ending at the duration stops at the last frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abaw.errors import AbawError
from abaw.grouped import GroupedByVideo

# Two times closer than this count as equal: float sums such as 2.0 + 4.0 against frames / fps must not
# turn a clip that ends at the duration into a clip plus a sliver of tail. It is far below one frame.
TIME_TOLERANCE = 1e-6


@dataclass(frozen=True)
class ClipRule:
    """Clip length, hop and shortest kept tail, in seconds (published: 4, 2, 1)."""

    length: float = 4.0
    hop: float = 2.0
    min_length: float = 1.0

    def __post_init__(self) -> None:
        if not (self.length > 0 and self.hop > 0 and 0 <= self.min_length <= self.length):
            raise AbawError(f"clip rule length={self.length}, hop={self.hop}, min_length={self.min_length}: "
                            "length and hop must be positive and 0 <= min_length <= length")


@dataclass
class ClipPlan(GroupedByVideo):
    """The clips of several videos in CSR form: clips of video i are rows `offsets[i]:offsets[i+1]`."""

    videos: np.ndarray  # unicode [V]
    offsets: np.ndarray  # int64 [V+1]
    begin: np.ndarray  # float64 [N], seconds
    end: np.ndarray  # float64 [N], seconds
    start: np.ndarray  # int64 [N], first 0-based frame row
    stop: np.ndarray  # int64 [N], one past the last frame row

    where = "this clip plan"

    @property
    def n_clips(self) -> int:
        return int(self.offsets[-1])


def plan_clips(frames, fps, rule: ClipRule = ClipRule(), videos=None) -> ClipPlan:
    """Clips of every video given its frame count and measured fps (arrays [V]), in one vectorised pass.

    `videos` (names [V], default "0", "1", ...) only label the plan and error messages.
    """
    frames = np.atleast_1d(np.asarray(frames, dtype=np.int64))
    fps = np.atleast_1d(np.asarray(fps, dtype=np.float64))
    names = (np.arange(len(frames)).astype(str) if videos is None
             else np.atleast_1d(np.asarray(videos, dtype=np.str_)))
    if not frames.shape == fps.shape == names.shape or frames.ndim != 1:
        raise AbawError(f"plan_clips: frames {frames.shape}, fps {fps.shape} and videos {names.shape} "
                        "must be 1-d arrays of one length")
    bad = (frames < 1) | ~np.isfinite(fps) | (fps <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise AbawError(f"video {names[i]}: {frames[i]} frames at {fps[i]:g} fps; a video needs at least "
                        "one frame and a positive frame rate (is its timing measured from the file?)")
    duration = frames / fps
    tol = TIME_TOLERANCE
    # full[i]: clips that end strictly before the duration, i.e. the k >= 0 with k*hop + length < d.
    full = np.maximum(np.ceil((duration - tol - rule.length) / rule.hop), 0).astype(np.int64)
    # The float estimate can be one off either way; settle it with the same comparison the rule states.
    full -= (full > 0) & ((full - 1) * rule.hop + rule.length >= duration - tol)
    full += full * rule.hop + rule.length < duration - tol
    last_begin = full * rule.hop
    short = duration <= rule.length + tol
    # After the full clips, one more clip reaching the duration: exactly ending there, or a long enough tail.
    long_enough = (duration - last_begin >= rule.min_length - tol) & (np.rint(last_begin * fps) < frames)
    closing = short | long_enough
    full = np.where(short, 0, full)
    counts = full + closing
    offsets = np.zeros(len(frames) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    video = np.repeat(np.arange(len(frames)), counts)
    k = np.arange(offsets[-1], dtype=np.int64) - offsets[video]
    is_closing = k == full[video]  # the last clip of a video with `closing`: it ends at the duration
    begin = k * rule.hop
    end = np.where(is_closing, duration[video], begin + rule.length)
    rate = fps[video]
    start = np.rint(begin * rate).astype(np.int64)
    inside = np.minimum(np.rint(end * rate).astype(np.int64), frames[video])
    stop = np.where(is_closing, frames[video], inside)
    return ClipPlan(videos=names, offsets=offsets, begin=begin, end=end, start=start, stop=stop)
