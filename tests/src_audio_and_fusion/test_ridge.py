import numpy as np
import soundfile

from abaw.tables import Table
from src_audio_and_fusion.config import SAMPLE_RATE
from src_audio_and_fusion.data import WindowReader
from src_audio_and_fusion.ridge import bin_features


def _reader(tmp_path) -> WindowReader:
    """Two overlapping 4 s windows over a 6 s WAV that holds a 200 Hz tone in its second second only."""
    t = np.arange(6 * SAMPLE_RATE) / SAMPLE_RATE
    wave = np.where((t >= 1.0) & (t < 2.0), 0.5 * np.sin(2 * np.pi * 200 * t), 0.0)
    soundfile.write(tmp_path / "v.wav", wave.astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
    columns = {"begin": np.array([0.0, 2.0]), "end": np.array([4.0, 6.0]), "has_audio": np.array([1, 1]),
               "label": np.zeros((2, 4, 2), np.float32)}
    table = Table(kind="windows", videos=np.array(["v"]), offsets=np.array([0, 2]), columns=columns, meta={})
    return WindowReader(table, tmp_path, 4 * SAMPLE_RATE)


def test_bin_features_follow_the_tone_and_agree_where_windows_overlap(tmp_path):
    features = bin_features(_reader(tmp_path))  # [window, bin, (level mean, level sd, pitch mean, sd, loud)]
    assert features.shape == (2, 4, 5) and np.isfinite(features).all()
    tone = features[0, 1]
    assert tone[4] == 1.0 and abs(tone[2] - np.log(200)) < 0.05 and tone[0] > np.log(0.1)
    assert features[0, 0, 4] == 0.0 and features[0, 3, 4] == 0.0 and features[1, 2, 4] == 0.0
    assert features[0, 0, 0] < tone[0] - 5
    # second 2-3 is bin 2 of the first window and bin 0 of the second: the same frames, the same values
    np.testing.assert_array_equal(features[0, 2], features[1, 0])
    np.testing.assert_array_equal(features[0, 3], features[1, 1])
