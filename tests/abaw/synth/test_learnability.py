"""End to end: the generated media carry valence/arousal a simple model can learn, but not trivially."""

import cv2
import numpy as np
import pytest
from sklearn.linear_model import Ridge

from abaw.affwild import index_split
from abaw.metrics import ccc
from abaw.synth import media, voices
from abaw.synth.generator import generate
from abaw.synth.plan import make_plan
from abaw.synth.presets import Preset
from abaw.synth.trajectories import person_tracks, speaking

SR = voices.SAMPLE_RATE
# Many short one-person recordings: enough faces that a single-frame model has to learn the expression
# rather than the identity, and enough validation faces for a stable score.
LEARN = Preset("learn", videos=(40, 20, 1), pairs=(0, 0, 0), media=True, seconds=(6.0, 8.0))


@pytest.fixture(scope="module")
def learn_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "learn"
    generate(out, LEARN, seed=0, workers=2, progress=False)
    return out


def crop_pixels(root, split: str, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Grey, downsampled, per-image standardised crops of every labelled frame with a face, and labels."""
    index = index_split(root / "annotations", split)
    pixels, labels = [], []
    for video in index.videos:
        rows = index.rows(video)
        for frame, label in zip(index.frames[rows], index.labels[rows], strict=True):
            path = root / "cropped_aligned" / video / f"{frame:05d}.jpg"
            if not path.exists() or np.isnan(label).any():
                continue
            image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            x = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
            pixels.append((x - x.mean()) / (x.std() + 1e-6))
            labels.append(label)
    return np.array(pixels), np.array(labels)


def test_single_crops_predict_valence_and_arousal_partly(learn_dataset):
    x_train, y_train = crop_pixels(learn_dataset, "train")
    x_val, y_val = crop_pixels(learn_dataset, "val")
    mean, sd = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
    model = Ridge(alpha=100.0).fit((x_train - mean) / sd, y_train)
    pred = model.predict((x_val - mean) / sd)
    scores = [ccc(pred[:, k], y_val[:, k]) for k in range(2)]
    assert len(x_train) > 5000 and len(x_val) > 2000
    print(f"single-frame ridge CCC: valence {scores[0]:.3f}, arousal {scores[1]:.3f}")
    assert all(0.3 <= s <= 0.85 for s in scores), scores


def second_features(wave: np.ndarray) -> np.ndarray:
    """Loudness (mean and 90th percentile of 40 ms RMS, dB) and pitch (autocorrelation, octaves)."""
    frames = np.lib.stride_tricks.sliding_window_view(wave, 640)[::320]
    rms = np.sqrt((frames**2).mean(axis=1)) + 1e-6
    power = np.abs(np.fft.rfft(frames - frames.mean(axis=1, keepdims=True), 1280)) ** 2
    lags = np.fft.irfft(power)[:, SR // 500:SR // 60]
    f0 = SR / (SR // 500 + lags.argmax(axis=1))
    loud = rms >= 0.3 * rms.max()
    return np.array([20 * np.log10(rms.mean()), 20 * np.log10(np.percentile(rms, 90)),
                     np.log2(np.median(f0[loud]))])


def speaking_seconds(root, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-second features and mean arousal over the seconds the person speaks at least half of."""
    features, arousal = [], []
    for rec in make_plan(LEARN, 0):
        if rec.split != split:
            continue
        track = person_tracks(0, rec, speech=True)[0]
        wave = media.decode_audio(root / rec.file)
        times = np.arange(rec.frames) / rec.fps
        talking = speaking(track.bursts, times)
        for second in range(int(rec.duration)):
            frames = (times >= second) & (times < second + 1)
            if talking[frames].mean() >= 0.5 and track.labelled[frames].all():
                features.append(second_features(wave[second * SR:(second + 1) * SR]))
                arousal.append(track.arousal[frames].mean())
    return np.array(features), np.array(arousal)


def test_speech_predicts_arousal(learn_dataset):
    x_train, y_train = speaking_seconds(learn_dataset, "train")
    x_val, y_val = speaking_seconds(learn_dataset, "val")
    assert len(x_train) > 60 and len(x_val) > 30
    mean, sd = x_train.mean(axis=0), x_train.std(axis=0)
    pred = Ridge(alpha=1.0).fit((x_train - mean) / sd, y_train).predict((x_val - mean) / sd)
    score = ccc(pred, y_val)
    print(f"per-second audio ridge CCC (arousal): {score:.3f}")
    assert score >= 0.3
