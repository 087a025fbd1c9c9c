"""Mouth openness: the per-frame `mouth_open` flags of a stream, smoothed, counted per window.

A stream's file `<openmouth>/<stream>.csv` has a `frame` column (1-based frame numbers, increasing) and a
0/1 `mouth_open` column; other columns are ignored and frames without a detected face are simply absent.
Window rows `[s, e)` are frames `s+1..e`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from abaw.errors import AbawError

REQUIRED = ("frame", "mouth_open")


def read_openmouth(path: Path, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(present bool [n], open bool [n]) over 0-based rows of a stream of `n_frames` frames.

    Frames past `n_frames` are ignored (a face table may run a frame longer than the annotation).
    """
    if not path.is_file():
        raise AbawError(f"{path}: mouth-openness file not found; point reliability.openmouth at the folder "
                        "holding <stream>.csv, or set reliability.policy to one that does not use it")
    try:
        table = pd.read_csv(path, usecols=lambda c: c in REQUIRED)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise AbawError(f"{path}: not a readable CSV ({exc})") from exc
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise AbawError(f"{path}: no {' or '.join(repr(c) for c in missing)} column; the file needs a header "
                        "with 'frame' (1-based frame numbers) and 'mouth_open' (0 or 1)")
    frames = pd.to_numeric(table["frame"], errors="coerce").to_numpy(np.float64)
    flags = pd.to_numeric(table["mouth_open"], errors="coerce").to_numpy(np.float64)
    bad = np.flatnonzero(~np.isfinite(frames) | (frames < 1) | (frames != np.round(frames)))
    if bad.size:
        raise AbawError(f"{path}:{int(bad[0]) + 2}: frame {table['frame'].iloc[bad[0]]!r} is not a 1-based "
                        "frame number")
    bad = np.flatnonzero(~np.isin(flags, (0.0, 1.0)))
    if bad.size:
        raise AbawError(f"{path}:{int(bad[0]) + 2}: mouth_open {table['mouth_open'].iloc[bad[0]]!r} is not 0 "
                        "or 1")
    order = np.flatnonzero(np.diff(frames) <= 0)
    if order.size:
        line = int(order[0]) + 3
        raise AbawError(f"{path}:{line}: frame {int(frames[order[0] + 1])} does not come after frame "
                        f"{int(frames[order[0]])}; sort the rows by frame, each frame once")
    rows = frames.astype(np.int64) - 1
    keep = rows < n_frames
    present = np.zeros(n_frames, dtype=bool)
    is_open = np.zeros(n_frames, dtype=bool)
    present[rows[keep]] = True
    is_open[rows[keep]] = flags[keep] > 0
    return present, is_open


def gap_frames(fps: float) -> int:
    """Closed runs of at most this many frames between open frames are taken as open (0.15 s)."""
    return max(1, round(0.15 * fps))


def blip_frames(fps: float) -> int:
    """Open runs of at most this many frames are taken as closed (0.20 s)."""
    return max(1, round(0.20 * fps))


def _runs(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, length and value of each run of equal values in a bool array."""
    if flags.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool)
    change = np.flatnonzero(flags[1:] != flags[:-1]) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.append(starts, flags.size))
    return starts, lengths, flags[starts]


def _set_runs(flags: np.ndarray, starts: np.ndarray, lengths: np.ndarray, value: bool) -> np.ndarray:
    """A copy of `flags` with the given runs set to `value` (vectorised with a difference array)."""
    marks = np.zeros(flags.size + 1, np.int64)
    np.add.at(marks, starts, 1)
    np.add.at(marks, starts + lengths, -1)
    inside = np.cumsum(marks[:-1]) > 0
    out = flags.copy()
    out[inside] = value
    return out


def smooth_open(is_open: np.ndarray, fps: float) -> np.ndarray:
    """Close short gaps between open frames, then drop short open blips (both at the stream's fps)."""
    flags = np.asarray(is_open, dtype=bool)
    starts, lengths, values = _runs(flags)
    inner = np.zeros(values.size, bool)
    inner[1:-1] = True  # a run touching either end is not between two open runs
    fill = ~values & inner & (lengths <= gap_frames(fps))
    flags = _set_runs(flags, starts[fill], lengths[fill], True)
    starts, lengths, values = _runs(flags)
    drop = values & (lengths <= blip_frames(fps))
    return _set_runs(flags, starts[drop], lengths[drop], False)


def window_counts(flags: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """int64 [K]: how many of `flags` [n] are set in rows [start, stop) (clipped to the stream)."""
    n = flags.size
    cumulative = np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])
    return cumulative[np.clip(stop, 0, n)] - cumulative[np.clip(start, 0, n)]


def mouth_columns(present: np.ndarray, smoothed: np.ndarray, start: np.ndarray, stop: np.ndarray,
                  fps: float) -> tuple[np.ndarray, np.ndarray]:
    """(coverage, open_sec) float32 [K] of windows [start, stop) over one stream."""
    frames = np.maximum(stop - start, 1)
    coverage = window_counts(present, start, stop) / frames
    open_sec = window_counts(smoothed, start, stop) / fps
    return coverage.astype(np.float32), open_sec.astype(np.float32)


def check_fps(fps: float, where: str) -> None:
    if not (math.isfinite(fps) and fps > 0):
        raise AbawError(f"{where}: frame rate {fps!r} is not positive; measure the video again")
