import numpy as np
import pytest

from abaw.synth import voices
from abaw.synth.plan import rng
from abaw.synth.trajectories import Track, syllables

SR = voices.SAMPLE_RATE
FPS = 25.0


def steady(valence: float, arousal: float, seconds: float = 6.0) -> Track:
    n = int(seconds * FPS)
    bursts = np.array([[1.0, 4.0]])
    return Track(valence=np.full(n, valence, np.float32), arousal=np.full(n, arousal, np.float32),
                 labelled=np.ones(n, bool), face=np.ones(n, bool), bursts=bursts,
                 syllables=syllables(rng(0, "syllables"), bursts))


def speak(track: Track, seed: int = 0) -> np.ndarray:
    style = voices.VoiceStyle(f0=140.0, level_db=-24.0, tract=1.0, tilt=1.1, breath=0.03)
    return voices.voice(track, style, FPS, int(len(track.valence) / FPS * SR), rng(seed, "breath"))


def pitch(wave: np.ndarray) -> float:
    """Fundamental from the autocorrelation peak between 60 and 500 Hz."""
    x = wave[int(1.5 * SR):int(3.5 * SR)].astype(np.float64)
    ac = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * len(x))) ** 2)[: SR // 60]
    lag = SR // 500 + np.argmax(ac[SR // 500:])
    return SR / lag


def rms_db(wave: np.ndarray) -> float:
    return 10 * np.log10(np.mean(wave[SR:4 * SR] ** 2))


def test_voice_is_silent_outside_the_bursts():
    wave = speak(steady(0.0, 0.0))
    assert wave.dtype == np.float32 and len(wave) == 6 * SR
    assert np.abs(wave[: SR - 1]).max() == 0 and np.abs(wave[4 * SR + 1:]).max() == 0
    assert np.abs(wave[SR:4 * SR]).max() > 0.01


def test_arousal_raises_pitch_and_loudness():
    calm, excited = speak(steady(0.0, -0.6)), speak(steady(0.0, 0.6))
    octaves, decibels = voices.VOICE["pitch_octaves_per_arousal"], voices.VOICE["loudness_db_per_arousal"]
    assert pitch(excited) / pitch(calm) == pytest.approx(2 ** (octaves * 1.2), rel=0.1)
    assert rms_db(excited) - rms_db(calm) == pytest.approx(decibels * 1.2, abs=2)


def test_valence_brightens_the_spectrum():
    def centroid(wave: np.ndarray) -> float:
        power = np.abs(np.fft.rfft(wave[SR:4 * SR])) ** 2
        return float((np.fft.rfftfreq(3 * SR, 1 / SR) * power).sum() / power.sum())
    assert centroid(speak(steady(0.8, 0.0))) > 1.1 * centroid(speak(steady(-0.8, 0.0)))


def test_same_seed_same_samples():
    assert np.array_equal(speak(steady(0.2, 0.3), 1), speak(steady(0.2, 0.3), 1))


def test_background_and_mix():
    noise = voices.background(rng(0, "room"), SR)
    level = 20 * np.log10(noise.std())
    assert voices.VOICE["background_dbfs"][0] - 1 < level < voices.VOICE["background_dbfs"][1] + 1
    pcm = voices.mix([np.full(4, 0.5, np.float32), np.array([0.0, 0.6, -0.7, -0.4], np.float32)])
    assert pcm.dtype == np.int16 and list(pcm) == [16384, 32767, -6553, 3277]
