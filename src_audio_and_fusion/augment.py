"""Augmentations of training windows: gain, noise at a random SNR, band limit and synthetic reverb.

Each is applied with its own probability from `[augment]`, on the window's real samples only.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from scipy.signal import fftconvolve

from src_audio_and_fusion.config import SAMPLE_RATE, AugmentConfig


class Augmenter:
    """Callable on float32 samples. Its generator is seeded from `seed` and torch's seed of the process
    it runs in, so each DataLoader worker draws differently and a seeded run repeats exactly."""

    def __init__(self, cfg: AugmentConfig, seed: int = 0) -> None:
        self.cfg, self.seed = cfg, seed
        self.rng: np.random.Generator | None = None
        self.owner: int | None = None

    def generator(self) -> np.random.Generator:
        process = os.getpid()
        if self.rng is None or self.owner != process:
            self.rng = np.random.default_rng([self.seed, torch.initial_seed() % 2**63])
            self.owner = process
        return self.rng

    def __call__(self, x: np.ndarray) -> np.ndarray:
        cfg, rng = self.cfg, self.generator()
        x = x.astype(np.float32, copy=True)
        if rng.random() < cfg.reverb_p:
            x = reverb(x, rng.uniform(*cfg.rt60), rng)
        if rng.random() < cfg.band_p:
            x = band_limit(x, rng.uniform(*cfg.low_hz), rng.uniform(*cfg.high_hz))
        if rng.random() < cfg.noise_p:
            x = add_noise(x, rng.uniform(*cfg.snr_db), rng)
        if rng.random() < cfg.gain_p:
            x = x * np.float32(10.0 ** (rng.uniform(-cfg.gain_db, cfg.gain_db) / 20.0))
        return x


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White noise `snr_db` below the signal's RMS."""
    level = rms(x) / 10.0 ** (snr_db / 20.0)
    return (x + level * rng.standard_normal(x.size)).astype(np.float32)


def band_limit(x: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
    """Zero the spectrum below `low_hz` and above `high_hz` (a telephone-like channel)."""
    spectrum = np.fft.rfft(x)
    freq = np.fft.rfftfreq(x.size, 1.0 / SAMPLE_RATE)
    spectrum[(freq < low_hz) | (freq > high_hz)] = 0
    return np.fft.irfft(spectrum, n=x.size).astype(np.float32)


def reverb(x: np.ndarray, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Convolution with exponentially decaying noise (60 dB down after `rt60` s), loudness kept."""
    n = max(int(rt60 * SAMPLE_RATE), 1)
    tail = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    tail[0] = 1.0  # the direct path
    wet = fftconvolve(x, tail)[: x.size]
    scale = rms(x) / max(rms(wet), 1e-12)
    return (wet * scale).astype(np.float32)
