from __future__ import annotations

import numpy as np

from src_audio_and_fusion.augment import Augmenter, add_noise, band_limit, reverb, rms
from src_audio_and_fusion.config import AugmentConfig


def tone(hz: float, n: int = 16_000) -> np.ndarray:
    return (0.2 * np.sin(2 * np.pi * hz * np.arange(n) / 16_000)).astype(np.float32)


def test_noise_has_the_asked_snr() -> None:
    x = tone(300)
    noisy = add_noise(x, 10.0, np.random.default_rng(0))
    assert abs(20 * np.log10(rms(x) / rms(noisy - x)) - 10.0) < 0.2


def test_band_limit_removes_out_of_band_tones() -> None:
    x = tone(100) + tone(1_000) + tone(6_000)
    y = band_limit(x, 300.0, 3_000.0)
    spectrum = np.abs(np.fft.rfft(y))
    assert spectrum[1_000] > 1_000 and spectrum[100] < 1 and spectrum[6_000] < 1


def test_reverb_keeps_loudness_and_length() -> None:
    x = tone(500)
    y = reverb(x, 0.4, np.random.default_rng(1))
    assert y.shape == x.shape and abs(rms(y) - rms(x)) < 1e-4 and not np.allclose(x, y)


def test_probabilities_switch_augmentations() -> None:
    x = tone(500)
    off = AugmentConfig(gain_p=0, noise_p=0, band_p=0, reverb_p=0)
    np.testing.assert_array_equal(Augmenter(off)(x), x)
    gain_only = AugmentConfig(gain_p=1, gain_db=6.0, noise_p=0, band_p=0, reverb_p=0)
    y = Augmenter(gain_only, seed=3)(x)
    ratio = rms(y) / rms(x)
    assert 10 ** (-6 / 20) - 1e-6 <= ratio <= 10 ** (6 / 20) + 1e-6
    np.testing.assert_allclose(y / ratio, x, atol=1e-6)
