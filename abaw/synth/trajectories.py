"""What happens to each person over time: valence/arousal, unlabelled stretches, face visibility, speech.

Everything is drawn on the time axis in seconds and sampled at the recording's frame rate, so a person
behaves the same whatever the fps. Labels are quantised to 1/1000 (three decimals in the files).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abaw.synth.plan import Recording, rng

TRAJECTORY = {
    "valence_mean": (0.1, 0.1),  # (mean, sd) of a person's resting valence
    "arousal_mean": (0.2, 0.1),
    "drift_seconds": 6.0,  # slow drift: spline knots every 6 s
    "drift_sd": (0.3, 0.25),
    "episode_rate_per_minute": 10.0,  # faster episodes: bumps of 1.5-5 s
    "episode_seconds": (1.5, 5.0),
    "episode_sd": (0.5, 0.45),
    "wiggle_seconds": 1.2,
    "wiggle_sd": (0.07, 0.07),
    "squash": "tanh",
    "unlabelled_runs": (1, 3),  # 1 or 2 runs per person (half-open range), each 0.3-1.5 s, written as -5
    "unlabelled_seconds": (0.3, 1.5),
    "faceless_runs": (1, 3),  # 1 or 2 runs per person of 0.15-0.8 s without a crop (a detector failing)
    "faceless_seconds": (0.15, 0.8),
    "burst_seconds": (0.5, 4.0),  # speech bursts
    "pause_seconds_mean": 1.2,
    "turn_switch_probability": 0.75,  # two-person recordings: the next burst goes to the other person
    "syllable_seconds": (0.12, 0.32),
}
_SPLINE_SD = 0.69  # sd of a cubic B-spline with unit-variance coefficients (between 0.68 and 0.71)


@dataclass
class Track:
    """One person in one recording; arrays have one entry per frame unless noted."""

    valence: np.ndarray  # float32, the truth (quantised); labels equal it where `labelled`
    arousal: np.ndarray
    labelled: np.ndarray  # bool; False is written as -5
    face: np.ndarray  # bool; False means no crop and no mouth row
    bursts: np.ndarray  # float64 [B, 2] speech bursts (start, stop) in seconds
    syllables: np.ndarray  # float64 [S, 2] syllables (start, stop) in seconds, inside the bursts

    def labels(self) -> np.ndarray:
        """float32 [N, 2] with NaN where unlabelled."""
        out = np.stack([self.valence, self.arousal], axis=1)
        out[~self.labelled] = np.nan
        return out


def smooth_noise(r: np.random.Generator, n: int, period: float, rows: int = 1) -> np.ndarray:
    """About unit-variance noise [rows, n] that changes over `period` samples: a uniform cubic B-spline with
    random coefficients, O(n) whatever the period."""
    coef = r.standard_normal((rows, int(np.ceil(n / period)) + 4))
    x = np.arange(n) / period
    i = x.astype(np.int64)
    t = x - i
    weights = np.stack([(1 - t) ** 3, 3 * t**3 - 6 * t**2 + 4, -3 * t**3 + 3 * t**2 + 3 * t + 1, t**3]) / 6
    return sum(coef[:, i + k] * weights[k] for k in range(4)) / _SPLINE_SD


def va_curves(r: np.random.Generator, n: int, fps: float) -> np.ndarray:
    """float64 [2, n] valence and arousal in (-1, 1): resting level + slow drift + episodes + wiggle."""
    p = TRAJECTORY
    level = np.array([r.normal(*p["valence_mean"]), r.normal(*p["arousal_mean"])])[:, None]
    x = level + np.array(p["drift_sd"])[:, None] * smooth_noise(r, n, p["drift_seconds"] * fps, 2)
    x += np.array(p["wiggle_sd"])[:, None] * smooth_noise(r, n, p["wiggle_seconds"] * fps, 2)
    count = r.poisson(p["episode_rate_per_minute"] * n / fps / 60)
    centres = r.uniform(0, n, count)
    widths = r.uniform(*p["episode_seconds"], count) * fps / 4  # the bump spans about +-2 sd
    amplitudes = r.normal(0.0, 1.0, (2, count)) * np.array(p["episode_sd"])[:, None]
    frames = np.arange(n)
    for centre, width, amplitude in zip(centres, widths, amplitudes.T, strict=True):
        lo, hi = max(int(centre - 4 * width), 0), min(int(centre + 4 * width) + 1, n)
        x[:, lo:hi] += amplitude[:, None] * np.exp(-0.5 * ((frames[lo:hi] - centre) / width) ** 2)
    return np.tanh(x)


def runs_mask(r: np.random.Generator, n: int, fps: float, runs: tuple[int, int],
              seconds: tuple[float, float]) -> np.ndarray:
    """bool [n], False inside a few random runs."""
    count = r.integers(runs[0], runs[1])
    starts = r.integers(0, n, count)
    lengths = np.maximum(np.rint(r.uniform(*seconds, count) * fps), 1).astype(np.int64)
    change = np.zeros(n + 1, np.int64)
    np.add.at(change, starts, 1)
    np.add.at(change, np.minimum(starts + lengths, n), -1)
    return np.cumsum(change[:n]) == 0


def speech_turns(r: np.random.Generator, duration: float, persons: int) -> list[np.ndarray]:
    """Speech bursts [B, 2] (seconds) per person; two persons mostly take turns and sometimes overlap."""
    p = TRAJECTORY
    bursts: list[list[tuple[float, float]]] = [[] for _ in range(persons)]
    last_stop = [-1.0] * persons
    speaker = int(r.integers(persons))
    t = r.uniform(0.0, 1.5)
    while t < duration:
        t = max(t, last_stop[speaker] + 0.2)  # a person's own bursts never overlap
        stop = min(t + r.uniform(*p["burst_seconds"]), duration)
        if stop - t >= p["burst_seconds"][0]:
            bursts[speaker].append((t, stop))
            last_stop[speaker] = stop
        switch = persons == 2 and r.random() < p["turn_switch_probability"]
        pause = r.exponential(p["pause_seconds_mean"]) + 0.2
        t = stop + (pause - r.uniform(0.0, 0.6) if switch else pause)  # the other person may cut in
        speaker = 1 - speaker if switch else speaker
    return [np.array(b, np.float64).reshape(-1, 2) for b in bursts]


def syllables(r: np.random.Generator, bursts: np.ndarray) -> np.ndarray:
    """Syllables [S, 2] (seconds) filling each burst, with short gaps between them."""
    lo, hi = TRAJECTORY["syllable_seconds"]
    out = []
    for start, stop in bursts:
        lengths = r.uniform(lo, hi, int((stop - start) / lo) + 1)
        edges = start + np.concatenate([[0.0], np.cumsum(lengths)])
        edges = edges[edges < stop - 0.06]
        ends = np.minimum(edges + lengths[: len(edges)] * r.uniform(0.75, 0.95, len(edges)), stop)
        out.append(np.stack([edges, ends], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 2))


def envelope(syllable_times: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Speech envelope in [0, 1] at times `t` (seconds): a rounded arch over each syllable, 0 between."""
    if len(syllable_times) == 0:
        return np.zeros(len(t))
    i = np.maximum(np.searchsorted(syllable_times[:, 0], t, side="right") - 1, 0)
    start, stop = syllable_times[i, 0], syllable_times[i, 1]
    phase = np.clip((t - start) / (stop - start), 0.0, 1.0)
    return np.where((t >= start) & (t < stop), np.sin(np.pi * phase) ** 0.7, 0.0)


def speaking(bursts: np.ndarray, t: np.ndarray) -> np.ndarray:
    """bool: is `t` (seconds) inside a speech burst."""
    if len(bursts) == 0:
        return np.zeros(len(t), bool)
    i = np.maximum(np.searchsorted(bursts[:, 0], t, side="right") - 1, 0)
    return (t >= bursts[i, 0]) & (t < bursts[i, 1])


def quantise(x: np.ndarray) -> np.ndarray:
    """Values as written in the annotation files (three decimals), as float32."""
    return (np.rint(x * 1000) / 1000).astype(np.float32)


def person_tracks(seed: int, recording: Recording, speech: bool) -> list[Track]:
    """The tracks of every person of a recording; `speech=False` skips the speech timeline (label-only)."""
    n, fps = recording.frames, recording.fps
    turn_rng = rng(seed, recording.stem, "speech")
    turns = speech_turns(turn_rng, recording.duration, recording.persons) if speech else None
    tracks = []
    for person in range(recording.persons):
        r = rng(seed, recording.stem, "track", str(person))
        va = quantise(va_curves(r, n, fps))
        labelled = runs_mask(r, n, fps, TRAJECTORY["unlabelled_runs"], TRAJECTORY["unlabelled_seconds"])
        face = runs_mask(r, n, fps, TRAJECTORY["faceless_runs"], TRAJECTORY["faceless_seconds"])
        bursts = turns[person] if turns is not None else np.zeros((0, 2))
        syl = syllables(turn_rng, bursts) if turns is not None else np.zeros((0, 2))
        tracks.append(Track(valence=va[0], arousal=va[1], labelled=labelled, face=face, bursts=bursts,
                            syllables=syl))
    return tracks
