"""Speech-like voices whose pitch, loudness and timbre follow a person's valence/arousal track.

A voiced source (harmonics of a gliding fundamental) is shaped by a spectral tilt and three formant
resonances, and gated by the syllable envelope that also opens the mouth. Arousal raises pitch and
loudness; valence brightens the tilt and lifts the formants (a smile shortens the vocal tract).
Between bursts there is only the room's background noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abaw.synth.trajectories import Track, envelope

SAMPLE_RATE = 16_000
_CONTROL_RATE = 100  # pitch, loudness and formants change every 10 ms
_TOP_HZ = 6_000  # no harmonic above this
_MAX_HARMONICS = 60
_FORMANTS = ((1.0, 90.0), (0.7, 120.0), (0.35, 180.0))  # (gain, half-width in Hz) of F1, F2, F3

VOICE = {
    "sample_rate": SAMPLE_RATE,
    "pitch_octaves_per_arousal": 0.45,  # f0 = f0_person * 2 ** (0.45 * arousal + intonation)
    "loudness_db_per_arousal": 9.0,
    "tilt_per_valence": -0.35,  # harmonic k has amplitude k ** -tilt: positive valence is brighter
    "formant_shift_per_valence": 0.08,  # formants scale by 1 + 0.08 * valence
    "person_f0_hz": (90.0, 240.0),
    "person_level_dbfs": (-27.0, -21.0),
    "background_dbfs": (-55.0, -40.0),
    "vowels_hz": [[730, 1090], [270, 2290], [530, 1840], [570, 840], [300, 870], [660, 1720]],
    "f3_hz": 2500,
}
_VOWELS = np.array(VOICE["vowels_hz"], np.float64)


@dataclass(frozen=True)
class VoiceStyle:
    f0: float  # resting fundamental, Hz
    level_db: float  # loudness at arousal 0, dBFS
    tract: float  # formant scale (vocal tract length)
    tilt: float  # spectral tilt at valence 0
    breath: float  # share of noise in the voice


def voice_style(r: np.random.Generator) -> VoiceStyle:
    return VoiceStyle(f0=float(np.exp(r.uniform(*np.log(VOICE["person_f0_hz"])))),
                      level_db=r.uniform(*VOICE["person_level_dbfs"]), tract=r.uniform(0.88, 1.15),
                      tilt=r.uniform(0.9, 1.3), breath=r.uniform(0.02, 0.08))


def voice(track: Track, style: VoiceStyle, fps: float, n_samples: int, r: np.random.Generator) -> np.ndarray:
    """float32 [n_samples]: the person's speech, silent outside the bursts."""
    out = np.zeros(n_samples, np.float32)
    frame_times = np.arange(len(track.valence)) / fps
    vowels = _VOWELS[r.integers(0, len(_VOWELS), len(track.syllables) + 1)]  # one vowel per syllable
    for start, stop in track.bursts:
        lo, hi = int(start * SAMPLE_RATE), min(int(stop * SAMPLE_RATE), n_samples)
        if hi - lo < SAMPLE_RATE // 10:
            continue
        control = np.arange(lo / SAMPLE_RATE, hi / SAMPLE_RATE + 2 / _CONTROL_RATE, 1 / _CONTROL_RATE)
        valence = np.interp(control, frame_times, track.valence)
        arousal = np.interp(control, frame_times, track.arousal)
        vowel = vowels[np.searchsorted(track.syllables[:, 0], control, side="right")]
        f0, amplitude = _controls(style, valence, arousal, vowel, r)
        t = np.arange(lo, hi) / SAMPLE_RATE
        wave = _harmonics(f0, amplitude, (t - control[0]) * _CONTROL_RATE)
        wave += style.breath * wave.std() * r.standard_normal(len(t)).astype(np.float32)
        out[lo:hi] = wave * envelope(track.syllables, t).astype(np.float32)
    return out


def _controls(style: VoiceStyle, valence: np.ndarray, arousal: np.ndarray, vowel: np.ndarray,
              r: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Fundamental [C] and harmonic amplitudes [H, C] at the control rate for one burst."""
    n = len(valence)
    accent = np.interp(np.arange(n), np.arange(0, n, 20), r.normal(0, 0.08, len(range(0, n, 20))))
    declination = 0.1 - 0.2 * np.arange(n) / max(n - 1, 1)
    f0 = style.f0 * 2.0 ** (VOICE["pitch_octaves_per_arousal"] * arousal + declination + accent)
    harmonics = np.arange(1, min(int(_TOP_HZ / f0.min()), _MAX_HARMONICS) + 1)[:, None]
    freq = harmonics * f0
    scale = style.tract * (1 + VOICE["formant_shift_per_valence"] * valence)
    formants = (vowel[:, 0] * scale, vowel[:, 1] * scale, VOICE["f3_hz"] * scale)
    resonance = sum(gain / (1 + ((freq - centre) / width) ** 2)
                    for centre, (gain, width) in zip(formants, _FORMANTS, strict=True))
    amplitude = harmonics ** -(style.tilt + VOICE["tilt_per_valence"] * valence) * (0.08 + resonance)
    amplitude *= freq < _TOP_HZ
    amplitude /= np.sqrt((amplitude**2).sum(axis=0) / 2)  # unit RMS whatever the timbre
    amplitude *= 10.0 ** ((style.level_db + VOICE["loudness_db_per_arousal"] * arousal) / 20)
    return f0, amplitude


def _harmonics(f0: np.ndarray, amplitude: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Additive synthesis at the sample rate; `position` is each sample's place on the control grid."""
    index = np.minimum(position.astype(np.int64), len(f0) - 2)
    frac = position - index
    f0_t = f0[index] * (1 - frac) + f0[index + 1] * frac
    phase = np.mod(2 * np.pi / SAMPLE_RATE * np.cumsum(f0_t), 2 * np.pi).astype(np.float32)
    frac32 = frac.astype(np.float32)
    amp = amplitude.astype(np.float32)
    amp_t = amp[:, index] * (1 - frac32) + amp[:, index + 1] * frac32
    k = np.arange(1, len(amp) + 1, dtype=np.float32)[:, None]
    return np.einsum("hn,hn->n", amp_t, np.sin(k * phase))


def background(r: np.random.Generator, n_samples: int) -> np.ndarray:
    """Room noise: low-passed white noise at a random level."""
    level = 10.0 ** (r.uniform(*VOICE["background_dbfs"]) / 20)
    noise = np.convolve(r.standard_normal(n_samples), 0.7 ** np.arange(16), "same")
    return (level * noise / noise.std()).astype(np.float32)


def mix(parts: list[np.ndarray]) -> np.ndarray:
    """int16 PCM of the summed parts; the rare peaks above full scale are clipped."""
    return np.clip(np.rint(np.sum(parts, axis=0) * 32767), -32768, 32767).astype(np.int16)
