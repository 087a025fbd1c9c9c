"""Which recordings a synthetic dataset holds (names, splits, frame rates, lengths) and their seeds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from abaw.errors import AbawError
from abaw.synth.presets import FPS_CHOICES, SPLITS, Preset

PANEL = 240  # one person's square panel in a video frame, in pixels
SCALE_FPS_WEIGHTS = (0.05, 0.05, 0.2, 0.1, 0.6)  # label-only presets: mostly 30 fps, as in Aff-Wild2
SCALE_SIZES = ((1280, 720), (640, 360), (1920, 1080), (480, 360), (640, 480))
NAMED_FPS_SHARE = 0.7  # recordings named `<id>-<fps>-<W>x<H>`; the others are `video<id>`
LYING_NAME_SHARE = 0.1  # named recordings whose name states a wrong frame rate (Aff-Wild2: 63 of 598)
MAX_FRAMES = 99_999  # frame numbers have five digits


def rng(seed: int, *keys: str) -> np.random.Generator:
    """An independent random stream for (seed, keys), e.g. (seed, stem, "face", "0"): results never depend
    on the order in which recordings are generated or on how they are spread over processes."""
    words = [int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") for key in keys]
    return np.random.default_rng(np.random.SeedSequence([seed, *words]))


@dataclass(frozen=True)
class Recording:
    """One recording: one video file showing one person, or two side by side (`_left`, `_right`)."""

    stem: str
    split: str
    fps: float
    name_fps: int | None  # the frame rate the stem claims; None for `video<id>` stems
    frames: int
    persons: int
    container: str  # "mp4" or "avi"; "" for label-only presets
    width: int
    height: int

    @property
    def videos(self) -> tuple[str, ...]:
        """Annotation video names, one per person."""
        return (self.stem,) if self.persons == 1 else (f"{self.stem}_left", f"{self.stem}_right")

    @property
    def duration(self) -> float:
        return self.frames / self.fps

    @property
    def rate(self) -> str:
        """The frame rate as ffmpeg wants it: exact 30000/1001 for NTSC."""
        return "30000/1001" if abs(self.fps - 30000 / 1001) < 1e-9 else str(round(self.fps))

    @property
    def file(self) -> str:
        """Path of the video file relative to the dataset root ("" without media)."""
        return f"videos/{self.stem}.{self.container}" if self.container else ""


def check_seed(seed: int) -> int:
    if not isinstance(seed, int) or seed < 0:
        raise AbawError(f"--seed {seed!r}: the seed must be a non-negative integer")
    return seed


def make_plan(preset: Preset, seed: int) -> list[Recording]:
    """Every recording of the dataset, splits in order train, val, test."""
    r = rng(check_seed(seed), "plan")
    persons = [np.repeat([1, 2], preset.recordings(i)) for i in range(len(SPLITS))]
    count = sum(len(p) for p in persons)
    ids = r.choice(np.arange(1, 2 * count + 1), size=count, replace=False)
    if preset.media:
        fps = np.array(FPS_CHOICES)[r.permutation(count) % len(FPS_CHOICES)]
    else:
        fps = r.choice(np.array(FPS_CHOICES), size=count, p=SCALE_FPS_WEIGHTS)
    named = r.random(count) < NAMED_FPS_SHARE
    lying = named & (r.random(count) < LYING_NAME_SHARE)
    named[0] = lying[0] = True  # every dataset has a recording whose name lies about its frame rate
    frames = np.concatenate([_lengths(preset, i, persons[i], fps[_span(persons, i)], r)
                             for i in range(len(SPLITS))])
    split_of = np.concatenate([np.full(len(p), i) for i, p in enumerate(persons)])
    people = np.concatenate(persons)
    recordings = []
    for k in range(count):
        width, height = _size(people[k], preset.media, r)
        name_fps = _name_fps(float(fps[k]), bool(lying[k]), r) if named[k] else None
        stem = f"{ids[k]}-{name_fps}-{width}x{height}" if named[k] else f"video{ids[k]}"
        container = ("avi" if k % preset.avi_every == preset.avi_every - 1 else "mp4") if preset.media else ""
        recordings.append(Recording(stem=stem, split=SPLITS[split_of[k]], fps=float(fps[k]),
                                    name_fps=name_fps, frames=int(frames[k]), persons=int(people[k]),
                                    container=container, width=width, height=height))
    return recordings


def _span(persons: list[np.ndarray], split: int) -> slice:
    start = sum(len(p) for p in persons[:split])
    return slice(start, start + len(persons[split]))


def _size(persons: int, media: bool, r: np.random.Generator) -> tuple[int, int]:
    if media:
        return (PANEL * 4 // 3 if persons == 1 else 2 * PANEL), PANEL
    return SCALE_SIZES[r.integers(len(SCALE_SIZES))]


def _name_fps(fps: float, lying: bool, r: np.random.Generator) -> int:
    true = round(fps)
    if not lying:
        return true
    return int(r.choice([f for f in (15, 24, 25, 30) if f != true]))


def _lengths(preset: Preset, split: int, persons: np.ndarray, fps: np.ndarray,
             r: np.random.Generator) -> np.ndarray:
    """Frames per recording: a duration range for media presets, exact annotation-frame totals otherwise
    (a two-person recording counts twice, once per annotation video)."""
    if preset.frames is None:
        seconds = r.uniform(*preset.seconds, size=len(persons))
        return np.minimum(np.rint(seconds * fps), MAX_FRAMES).astype(np.int64)
    total = preset.frames[split]
    weights = r.lognormal(0.0, 0.6, size=len(persons))
    lengths = np.maximum(np.floor(weights * total / (weights * persons).sum()), 30).astype(np.int64)
    single = np.flatnonzero(persons == 1)
    longest = single[np.argmax(lengths[single])]
    lengths[longest] += total - int((lengths * persons).sum())
    if lengths[longest] < 30 or lengths.max() > MAX_FRAMES:
        raise AbawError(f"preset {preset.name}: {total} frames cannot be spread over {len(persons)} "
                        f"recordings of 30 to {MAX_FRAMES} frames")
    return lengths
