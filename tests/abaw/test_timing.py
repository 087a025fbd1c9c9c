import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from abaw import timing
from abaw.affwild import VideoInfo, base_video, find_video_file, probe_video
from abaw.config import DataConfig, load_section
from abaw.errors import AbawError

ROOT = Path(__file__).resolve().parents[2]


def data_of(dataset: Path, **changes) -> DataConfig:
    return dataclasses.replace(load_section(DataConfig, dataset / "data.toml", "data"), **changes)


def test_timing_command_writes_every_base_video(tiny_dataset, tmp_path):
    out = tmp_path / "timing.csv"
    config = tmp_path / "config.toml"
    config.write_text((tiny_dataset / "data.toml").read_text().replace(
        '"annotations"', f'"{tiny_dataset / "annotations"}"').replace(
        '"test_template.txt"', f'"{tiny_dataset / "test_template.txt"}"').replace(
        '"videos"', f'"{tiny_dataset / "videos"}"').replace('"outputs"', f'"{tmp_path / "outputs"}"'))
    proc = subprocess.run([sys.executable, "-m", "abaw", "timing", "--config", config, "--out", out],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().splitlines()[0] == "video,fps,frames"
    written = timing.read_timing(out)
    data = data_of(tiny_dataset)
    streams = np.concatenate([timing.split_videos(data, s) for s in ("train", "val", "test")])
    assert set(written) == {base_video(s) for s in streams}
    for video, info in written.items():
        assert info == probe_video(find_video_file(data.videos, video))


def test_streams_read_the_csv_and_left_right_use_the_base_video(tmp_path):
    infos = {"a": VideoInfo(25.0, 300), "b": VideoInfo(30000 / 1001, 99)}
    csv = timing.write_timing(tmp_path / "t.csv", infos)
    data = DataConfig(videos=tmp_path / "no-videos-here", video_timing=csv)
    fps, frames = timing.stream_timing(data, ["a_left", "b", "a_right", "a"])
    assert fps.tolist() == [25.0, 30000 / 1001, 25.0, 25.0]
    assert frames.tolist() == [300, 99, 300, 300]


def test_a_stream_missing_from_the_csv_is_named(tmp_path):
    csv = timing.write_timing(tmp_path / "t.csv", {"a": VideoInfo(25.0, 300)})
    with pytest.raises(AbawError, match=r"no line for video zed"):
        timing.stream_timing(DataConfig(video_timing=csv), ["a", "zed_left"])


@pytest.mark.parametrize("body, match", [
    ("video,fps\na,25\n", "header"),
    ("video,fps,frames\na,25,x\n", r"t.csv:2: expected"),
    ("video,fps,frames\na,0,100\n", r"t.csv:2: video a: 100 frames at 0 fps"),
    ("video,fps,frames\na,25,0\n", r"t.csv:2: .*0 frames"),
])
def test_bad_timing_files(tmp_path, body, match):
    (tmp_path / "t.csv").write_text(body)
    with pytest.raises(AbawError, match=match):
        timing.read_timing(tmp_path / "t.csv")


def test_missing_timing_file_and_missing_video(tmp_path):
    with pytest.raises(AbawError, match="abaw timing"):
        timing.stream_timing(DataConfig(video_timing=tmp_path / "absent.csv"), ["a"])
    (tmp_path / "videos").mkdir()
    with pytest.raises(AbawError, match="no video file for a under data.videos"):
        timing.stream_timing(DataConfig(videos=tmp_path / "videos", output_root=tmp_path), ["a_left"])


def test_probing_without_a_csv_measures_the_files(tiny_dataset, tmp_path):
    data = data_of(tiny_dataset, output_root=tmp_path)
    streams = timing.split_videos(data, "val")
    fps, frames = timing.stream_timing(data, streams)
    for stream, rate, n in zip(streams, fps, frames, strict=True):
        info = probe_video(find_video_file(data.videos, stream))
        assert (rate, n) == (info.fps, info.frames)
