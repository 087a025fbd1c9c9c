from __future__ import annotations

import subprocess

import numpy as np
import pytest
import soundfile

from abaw.errors import AbawError
from src_audio_and_fusion.wav import FAILED, NO_AUDIO, OK, check_wav, decode_to_wav, ffmpeg_exe, read_samples


def test_a_corrupt_video_is_reported_not_raised(tmp_path) -> None:
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    status, message = decode_to_wav(video, tmp_path / "broken.wav")
    assert status == FAILED and "ffmpeg" in message
    assert not (tmp_path / "broken.wav").exists()


def test_a_video_without_audio_is_reported_as_such(tmp_path) -> None:
    video = tmp_path / "silent.avi"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-f", "lavfi", "-i",
                    "color=size=32x32:duration=0.2", "-c:v", "mpeg4", str(video)], check=True)
    assert decode_to_wav(video, tmp_path / "silent.wav") == (NO_AUDIO, "the file has no audio track")
    assert not (tmp_path / "silent.wav").exists()


def test_decoding_resamples_to_16k_mono(tmp_path) -> None:
    t = np.arange(44_100) / 44_100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 220 * t)], axis=1) * 0.3
    soundfile.write(tmp_path / "in.wav", stereo, 44_100)
    assert decode_to_wav(tmp_path / "in.wav", tmp_path / "out.wav") == (OK, "")
    assert check_wav(tmp_path / "out.wav") == pytest.approx(16_000, abs=2)
    part = read_samples(tmp_path / "out.wav", 15_000, 20_000)
    assert part.dtype == np.float32 and 990 <= part.size <= 1_010


def test_a_wav_of_another_rate_is_refused(tmp_path) -> None:
    soundfile.write(tmp_path / "x.wav", np.zeros(100), 8_000)
    with pytest.raises(AbawError, match="8000 Hz with 1 channel.*rerun extract-audio"):
        check_wav(tmp_path / "x.wav")
