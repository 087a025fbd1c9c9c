"""The floor the audio model has to beat: a ridge on per-second loudness and pitch, spread to frames alike.

Each 1 s bin gets the mean and spread of its log-RMS, the mean and spread of its log-pitch over loud
10 ms frames, and its share of loud frames; a ridge (penalty chosen on validation) maps them to
valence/arousal, and the bin predictions reach the frames exactly as the model's do.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import librosa
import numpy as np
import soundfile

from abaw.metrics import va_score
from src_audio_and_fusion.bins import bin_times
from src_audio_and_fusion.config import SAMPLE_RATE
from src_audio_and_fusion.data import WindowReader
from src_audio_and_fusion.spread import FrameLayout, interpolate

HOP = 160  # 10 ms analysis frames
PENALTIES = (1e-2, 1e-1, 1.0, 10.0, 100.0)
N_FEATURES = 5


def bin_features(reader: WindowReader) -> np.ndarray:
    """float64 [K, S, 5] loudness and pitch statistics of every bin (NaN for empty bins).

    Windows overlap (a 4 s window every 2 s), so loudness and pitch are computed once over each WAV and
    every bin takes the analysis frames centred inside it; a window with under two hops of real audio
    gets no features, as a window-by-window analysis would. The WAVs are analysed on one thread per core
    (numpy's FFT and array operations release the GIL).
    """
    table = reader.table
    steps = table.columns["label"].shape[1]
    b0, b1, valid = bin_times(table.columns["begin"], table.columns["end"], steps)
    out = np.full((table.n_rows, steps, N_FEATURES), np.nan)
    rows_with_audio = np.flatnonzero(reader.has_audio)
    paths = sorted({reader.paths[reader.video_of[k]] for k in rows_with_audio})
    with ThreadPoolExecutor(max(min(len(paths), os.cpu_count() or 1), 1)) as pool:
        tracks = dict(zip(paths, pool.map(wav_tracks, paths), strict=True))
    for k in rows_with_audio:
        t, level, f0, n_samples = tracks[reader.paths[reader.video_of[k]]]
        if min(int(reader.last[k]), n_samples) - int(reader.first[k]) < 2 * HOP:
            continue
        rows = np.flatnonzero(valid[k])
        lo = np.searchsorted(t, b0[k, rows], side="left")
        hi = np.searchsorted(t, b1[k, rows], side="left")
        for s, a, b in zip(rows, lo, hi, strict=True):
            if a >= b:
                continue
            loud, pitch = level[a:b] > np.log(0.01), f0[a:b]
            voiced = pitch[loud] if loud.any() else pitch
            out[k, s] = (level[a:b].mean(), level[a:b].std(), voiced.mean(), voiced.std(), loud.mean())
    return out


def wav_tracks(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(frame centre times in s, log-RMS, log-pitch, samples) of a whole WAV at a 10 ms hop."""
    x = soundfile.read(str(path), dtype="float32")[0]
    if x.size < 2 * HOP:
        return np.zeros(0), np.zeros(0), np.zeros(0), int(x.size)
    level = np.log(librosa.feature.rms(y=x, frame_length=2 * HOP, hop_length=HOP)[0] + 1e-5)
    f0 = np.log(librosa.yin(x, fmin=60, fmax=500, sr=SAMPLE_RATE, frame_length=1024, hop_length=HOP))
    n = min(level.size, f0.size)
    return np.arange(n) * HOP / SAMPLE_RATE, level[:n], f0[:n], int(x.size)


def _fit(x: np.ndarray, y: np.ndarray, penalty: float
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-8] = 1.0
    z = (x - mean) / scale
    y_mean = y.mean(axis=0)
    weights = np.linalg.solve(z.T @ z + penalty * len(z) * np.eye(z.shape[1]) / 100, z.T @ (y - y_mean))
    return mean, scale, weights, y_mean


def ridge_baseline(train: WindowReader, train_rows: np.ndarray, val: WindowReader,
                   val_labels: np.ndarray) -> dict[str, float]:
    """Fit on the labelled bins of the training windows; score the frame-level spread on validation."""
    x_train = bin_features(train)[train_rows]
    y_train = train.table.columns["label"][train_rows]
    fit_on = np.isfinite(x_train).all(axis=2) & np.isfinite(y_train).all(axis=2)
    x, y = x_train[fit_on], y_train[fit_on].astype(np.float64)
    x_val = bin_features(val)
    usable = np.isfinite(x_val).all(axis=2)
    layout = FrameLayout.of(val.table)
    best: dict[str, float] | None = None
    for penalty in PENALTIES:
        mean, scale, weights, y_mean = _fit(x, y, penalty)
        pred = ((np.where(usable[..., None], x_val, mean) - mean) / scale) @ weights + y_mean
        frames = np.clip(interpolate(val.table, layout, pred.astype(np.float32)), -1, 1)
        score = va_score(frames, val_labels)
        if best is None or score["score"] > best["score"]:
            best = {**score, "penalty": penalty}
    assert best is not None
    return best

