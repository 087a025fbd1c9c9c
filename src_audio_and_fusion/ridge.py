"""The floor the audio model has to beat: a ridge on per-second loudness and pitch, spread to frames alike.

Each 1 s bin gets the mean and spread of its log-RMS, the mean and spread of its log-pitch over loud
10 ms frames, and its share of loud frames; a ridge (penalty chosen on validation) maps them to
valence/arousal, and the bin predictions reach the frames exactly as the model's do.
"""

from __future__ import annotations

import librosa
import numpy as np

from abaw.metrics import va_score
from src_audio_and_fusion.bins import bin_times
from src_audio_and_fusion.config import SAMPLE_RATE
from src_audio_and_fusion.data import WindowReader
from src_audio_and_fusion.spread import FrameLayout, interpolate

HOP = 160  # 10 ms analysis frames
PENALTIES = (1e-2, 1e-1, 1.0, 10.0, 100.0)
N_FEATURES = 5


def bin_features(reader: WindowReader) -> np.ndarray:
    """float64 [K, S, 5] loudness and pitch statistics of every bin (NaN for empty bins)."""
    table = reader.table
    steps = table.columns["label"].shape[1]
    b0, b1, valid = bin_times(table.columns["begin"], table.columns["end"], steps)
    out = np.full((table.n_rows, steps, N_FEATURES), np.nan)
    for k in range(table.n_rows):
        x = reader.samples(k)
        if x.size < 2 * HOP:
            continue
        level = np.log(librosa.feature.rms(y=x, frame_length=2 * HOP, hop_length=HOP)[0] + 1e-5)
        f0 = np.log(librosa.yin(x, fmin=60, fmax=500, sr=SAMPLE_RATE, frame_length=1024, hop_length=HOP))
        n = min(level.size, f0.size)
        level, f0 = level[:n], f0[:n]
        t = np.arange(n) * HOP / SAMPLE_RATE + reader.first[k] / SAMPLE_RATE
        loud = level > np.log(0.01)
        for s in np.flatnonzero(valid[k]):
            inside = (t >= b0[k, s]) & (t < b1[k, s])
            if not inside.any():
                continue
            voiced = inside & loud
            pitch = f0[voiced] if voiced.any() else f0[inside]
            out[k, s] = (level[inside].mean(), level[inside].std(), pitch.mean(), pitch.std(), voiced.mean())
    return out


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

