"""Voice activity from silero-vad (an optional dependency whose model ships inside its wheel).

The model gives one speech probability per 32 ms chunk (512 samples at 16 kHz); a window's
`speech_ratio` is the share of its chunks at or above `reliability.vad_threshold`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from abaw.errors import AbawError
from src_audio_and_fusion.config import SAMPLE_RATE

CHUNK = 512  # samples per silero-vad decision at 16 kHz


@lru_cache(maxsize=1)
def _model():
    try:
        from silero_vad import load_silero_vad
    except ImportError as exc:
        raise AbawError("reliability.policy uses voice activity, which needs silero-vad: "
                        "`pip install silero-vad` (its model ships in the package), or set "
                        "reliability.policy = \"mouth\"") from exc
    return load_silero_vad()


def speech_probability(samples: np.ndarray) -> np.ndarray:
    """float32 [ceil(n / 512)]: speech probability of each 32 ms chunk of 16 kHz mono samples."""
    if samples.size == 0:
        return np.zeros(0, np.float32)
    model = _model()
    model.reset_states()
    with torch.no_grad():
        prob = model.audio_forward(torch.from_numpy(np.ascontiguousarray(samples, np.float32)), SAMPLE_RATE)
    return prob.reshape(-1).numpy().astype(np.float32)


def speech_ratio(chunks: np.ndarray, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """float32 [K]: share of the speech chunks (bool [C]) inside each window `[begin, end)` seconds."""
    seconds = CHUNK / SAMPLE_RATE
    lo = np.clip(np.floor(np.asarray(begin) / seconds).astype(np.int64), 0, chunks.size)
    hi = np.clip(np.ceil(np.asarray(end) / seconds).astype(np.int64), 0, chunks.size)
    cumulative = np.concatenate([[0], np.cumsum(chunks, dtype=np.int64)])
    total = np.maximum(np.ceil((np.asarray(end) - np.asarray(begin)) / seconds), 1)
    return ((cumulative[hi] - cumulative[lo]) / total).astype(np.float32)


def wav_speech(path: Path, threshold: float) -> np.ndarray:
    """bool [C]: the speech chunks of a WAV."""
    import soundfile

    samples, _ = soundfile.read(str(path), dtype="float32")
    return speech_probability(samples) >= threshold
