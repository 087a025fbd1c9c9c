"""extract-audio -> windows -> train-audio -> export-audio on the tiny synthetic dataset, through the CLI."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from abaw.affwild import index_split, read_template
from abaw.submission import validate_submission
from abaw.tables import read_table
from src_audio_and_fusion.main import main
from src_audio_and_fusion.wav import ffmpeg_exe


@pytest.fixture(scope="module")
def dataset_with_a_silent_video(tiny_dataset, tmp_path_factory):
    """The tiny dataset's videos, one of them re-muxed without its audio track."""
    root = tmp_path_factory.mktemp("silent")
    description = json.loads((tiny_dataset / "dataset.json").read_text())
    silent = next(r for r in description["recordings"] if r["split"] == "val")
    (root / "videos").mkdir()
    for video in sorted((tiny_dataset / "videos").iterdir()):
        target = root / "videos" / video.name
        if video.stem == silent["stem"]:
            subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(video), "-an", "-c:v", "copy",
                            str(target)], check=True)
        else:
            target.symlink_to(video)
    for name in ("annotations", "test_template.txt", "openmouth", "cropped_aligned"):
        (root / name).symlink_to(tiny_dataset / name)
    return root, silent


def burst_share(bursts: list[list[float]], begin: float, end: float) -> float:
    """Share of [begin, end) seconds inside any of the voiced bursts."""
    t = np.linspace(begin, end, 400, endpoint=False)
    return float(np.mean([any(a <= x < b for a, b in bursts) for x in t]))


def test_tiny_pipeline(dataset_with_a_silent_video, tiny_description, write_config, tmp_path, capsys) -> None:
    root, silent = dataset_with_a_silent_video
    description = tiny_description
    config = str(write_config(tmp_path, root))
    assert main(["extract-audio", "--config", config]) == 0
    assert "1 without an audio track" in capsys.readouterr().out
    assert main(["extract-audio", "--config", config, "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["reused"] == 9

    assert main(["windows", "--config", config]) == 0
    val = read_table(tmp_path / "out" / "audio_windows" / "val.npz", "windows")
    silent_rows = np.isin(val.video_of_row(), [val.position(v) for v in silent["videos"]])
    assert silent_rows.any() and not val.columns["has_audio"][silent_rows].any()
    assert not val.columns["reliable"][silent_rows].any()
    assert val.columns["has_audio"][~silent_rows].all()
    assert val.columns["label"].shape[1:] == (4, 2)

    # Voice activity: silero-vad's share of speech follows the bursts the generator voiced on the
    # recording's one audio track (both persons' voices in a two-person recording).
    assert main(["windows", "--config", config, "--split", "val", "--set", "reliability.policy=\"either\"",
                 "--set", f"windows.out=\"{tmp_path / 'vad'}\""]) == 0
    vad = read_table(tmp_path / "vad" / "val.npz", "windows")
    ratio = vad.columns["speech_ratio"]
    assert np.isnan(ratio[silent_rows]).all() and np.isfinite(ratio[~silent_rows]).all()
    bursts = {video: [burst for person in rec["videos"]
                      for burst in description["videos"][person]["speech_seconds"]]
              for rec in description["recordings"] for video in rec["videos"]}
    voiced = np.array([burst_share(bursts[str(vad.videos[v])], a, b)
                       for v, a, b in zip(vad.video_of_row(), vad.columns["begin"], vad.columns["end"],
                                          strict=True)])
    assert np.corrcoef(voiced[~silent_rows], ratio[~silent_rows])[0, 1] > 0.9

    assert main(["train-audio", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "frame-level validation score" in out
    runs = list((tmp_path / "out" / "src_audio_and_fusion").glob("audio-*/checkpoints/best.pt"))
    assert len(runs) == 1

    assert main(["export-audio", "--config", config]) == 0
    export = runs[0].parent.parent / "export"
    for split in ("train", "val", "test"):
        windows = read_table(export / "windows" / f"{split}.npz", "windows")
        frames = read_table(export / "frames" / f"{split}.npz", "frames")
        assert windows.columns["embedding"].shape[1:] == (4, 16)
        assert np.isfinite(windows.columns["prediction"]).all()
        assert np.isfinite(frames.columns["prediction"]).all() and frames.columns["embedding"].shape[1] == 16
        if split != "test":
            index = index_split(root / "annotations", split)
            assert frames.n_rows == index.n_frames
            np.testing.assert_array_equal(frames.columns["label"], index.labels)
    assert frames.n_rows == read_template(root / "test_template.txt").n_rows
    assert validate_submission(root / "test_template.txt", export / "submission.txt") == []
