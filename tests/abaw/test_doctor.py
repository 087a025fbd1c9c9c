import json
import shutil

import numpy as np
import pytest

from abaw.affwild import FpsTable, fps_table_path
from abaw.cli import main
from abaw.config import DataConfig
from abaw.doctor import diagnose

FRAMES = {"a": 3, "b_left": 4, "b_right": 4, "c": 3}


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def write_video(path, n_frames, fps=25.0):
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (16, 16))
    for i in range(n_frames):
        writer.write(np.full((16, 16, 3), 20 * i, np.uint8))
    writer.release()


def annotation(n):
    return "valence,arousal\n" + "0.1,0.2\n" * (n - 1) + "-5,-5\n"


def crops(root, video, n):
    for frame in range(1, n + 1):
        write(root / "cropped_aligned" / video / f"{frame:05d}.jpg", "")


@pytest.fixture
def layout(tmp_path):
    """Train a, b_left, b_right (one video b), val c, test d through the template only."""
    for video, n in FRAMES.items():
        split = "Validation_Set" if video == "c" else "Train_Set"
        write(tmp_path / "annotations" / split / f"{video}.txt", annotation(n))
        crops(tmp_path, video, n - 1)
    crops(tmp_path, "d", 2)
    write(tmp_path / "annotations" / "template.csv",
          "image_location,valence,arousal\nd/00001.jpg,0,0\nd/00002.jpg,0,0\n")
    for video, n in (("a", 3), ("b", 4), ("c", 3), ("d", 2)):
        write_video(tmp_path / "videos" / f"{video}.mp4", n)
    write(tmp_path / "data.toml",
          '[data]\nannotations = "annotations"\ntest_template = "annotations/template.csv"\n'
          'cropped_aligned = "cropped_aligned"\nvideos = "videos"\noutput_root = "out"\n\n'
          '[model]\nhidden = 3\n')
    return tmp_path


def doctor(root, capsys, *extra):
    code = main(["doctor", "--config", str(root / "data.toml"), "--json", *extra])
    out = capsys.readouterr().out
    return code, out, json.loads(out.strip().splitlines()[-1])


def test_clean_layout_passes_and_caches_fps(layout, capsys):
    code, out, result = doctor(layout, capsys)
    assert code == 0 and result["ok"] and result["errors"] == 0 and result["warnings"] == 0
    assert result["checks"]["annotations"]["ok"] == 4
    assert result["checks"]["template"]["ok"] == 1
    assert result["checks"]["crops"]["ok"] == 5 and result["checks"]["video files"]["ok"] == 5
    assert result["checks"]["fps"]["ok"] == 4
    table = FpsTable.load(fps_table_path(layout / "out"))
    assert sorted(table.entries) == ["a", "b", "c", "d"]
    assert table.entries["b"][0].fps == pytest.approx(25.0)
    assert "crops/frames median" in out


def test_missing_video_file_fails_the_stages_that_read_videos(layout, capsys):
    (layout / "videos" / "c.mp4").unlink()
    code, out, result = doctor(layout, capsys, "--for", "face", "--for", "audio")
    assert code == 1 and not result["ok"] and result["checks"]["video files"]["errors"] == 1
    assert result["for"] == ["face", "audio"]
    assert "error: video files: c: no video file" in out
    code, out, result = doctor(layout, capsys, "--no-fps")  # the face stage alone does not read videos
    assert code == 0 and result["checks"]["video files"]["warnings"] == 1
    assert "warning: video files: c: no video file" in out


def test_crops_only_layout_passes_for_the_face_stage_with_a_warning(layout, capsys):
    shutil.rmtree(layout / "videos")
    code, out, result = doctor(layout, capsys)
    assert code == 0 and result["ok"] and result["errors"] == 0 and result["warnings"] == 1
    assert "checking the layout for: face" in out
    assert "videos folder not found (set [data] videos); the behaviour and audio stages read them" in out
    config = layout / "data.toml"
    config.write_text(config.read_text().replace('videos = "videos"\n', ""))  # the key left out
    assert doctor(layout, capsys)[0] == 0
    for stage in ("behaviour", "audio", "all"):
        code, out, result = doctor(layout, capsys, "--for", stage)
        assert code == 1 and result["checks"]["video files"]["errors"] == 1
    shutil.rmtree(layout / "cropped_aligned")  # the behaviour stage reads no crops
    (layout / "videos").mkdir()
    for video in "abcd":
        write_video(layout / "videos" / f"{video}.mp4", 2)
    given = f"data.videos={layout / 'videos'}"  # the key is left out of the file: --set gives it
    code, out, result = doctor(layout, capsys, "--for", "behaviour", "--no-fps", "--set", given)
    assert code == 0 and result["checks"]["crops"]["warnings"] == 1
    assert result["checks"]["video files"]["ok"] == 5


def test_set_overrides_data_keys_against_the_working_directory(layout, capsys, monkeypatch):
    monkeypatch.chdir(layout)
    shutil.move(layout / "videos", layout / "elsewhere")
    code, _, result = doctor(layout, capsys, "--for", "all", "--no-fps", "--set", "data.videos=elsewhere")
    assert code == 0 and result["checks"]["video files"]["ok"] == 5
    assert main(["doctor", "--config", str(layout / "data.toml"), "--set", "data.vidoes=x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --set data.vidoes=x: unknown key vidoes in [data]; valid keys: annotations")


def test_too_many_crops_is_an_error_and_an_empty_folder_a_warning(layout, capsys):
    crops(layout, "a", 5)
    for jpg in (layout / "cropped_aligned" / "c").iterdir():
        jpg.unlink()
    code, out, result = doctor(layout, capsys, "--no-fps")
    assert code == 1
    assert result["checks"]["crops"]["errors"] == 1 and result["checks"]["crops"]["warnings"] == 1
    assert "error: crops: a: 5 crops for 3 annotated frames" in out
    assert "warning: crops: c: crops folder is empty" in out
    assert "fps" not in result["checks"]


def test_template_is_checked_against_test_set(layout, capsys):
    write(layout / "annotations" / "Test_Set" / "d.txt", annotation(1))
    write(layout / "annotations" / "Test_Set" / "e.txt", annotation(2))
    code, out, result = doctor(layout, capsys, "--no-fps")
    assert code == 1 and result["checks"]["template"]["errors"] == 2
    assert "e: in Test_Set but not in the template" in out
    assert "d: template asks for frame 2, Test_Set annotates 1 frames" in out


def test_bad_annotation_and_unmeasurable_video_are_reported(layout):
    write(layout / "annotations" / "Train_Set" / "a.txt", "valence,arousal\n0.1,7\n")
    write(layout / "videos" / "c.mp4", "not a video")
    data = DataConfig(annotations=layout / "annotations",
                      test_template=layout / "annotations" / "template.csv",
                      cropped_aligned=layout / "cropped_aligned", videos=layout / "videos",
                      output_root=layout / "out")
    checks = {c.name: c for c in diagnose(data)}
    assert any("a.txt:2: arousal 7 is outside" in m for m in checks["annotations"].errors)
    assert any("c.mp4: neither OpenCV nor ffmpeg" in m for m in checks["fps"].errors)


def test_missing_folders_are_single_errors(tmp_path, capsys):
    write(tmp_path / "data.toml", '[data]\nannotations = "nowhere"\n')
    code, out, result = doctor(tmp_path, capsys)
    assert code == 1
    assert result["checks"]["annotations"]["errors"] == 1 and result["checks"]["crops"]["errors"] == 1
    assert result["checks"]["template"]["warnings"] == 1


def test_misspelt_data_key_is_one_line_naming_the_valid_keys(layout, capsys):
    config = layout / "data.toml"
    config.write_text(config.read_text().replace("videos =", "vidoes ="))
    assert main(["doctor", "--config", str(config)]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1
    assert "unknown key(s) vidoes; valid keys are: annotations, test_template" in captured.err
    assert not (layout / "out").exists()


def test_synthetic_dataset_passes_until_a_shared_video_goes_missing(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "tiny"
    shutil.copytree(tiny_dataset, out)
    code, _, result = doctor(out, capsys)
    assert code == 0 and result["errors"] == 0 and result["checks"]["fps"]["ok"] > 0
    pair = sorted(p.name[: -len("_left")] for p in (out / "cropped_aligned").glob("*_left"))[0]
    next((out / "videos").glob(f"{pair}.*")).unlink()
    code, out_text, result = doctor(out, capsys, "--no-fps", "--for", "all")
    assert code == 1 and result["checks"]["video files"]["errors"] == 2
    assert f"error: video files: {pair}_left: no video file {pair}.*" in out_text
    assert f"error: video files: {pair}_right: no video file {pair}.*" in out_text


def test_video_timing_csv_replaces_probing_and_must_list_every_video(layout, capsys):
    timing = write(layout / "timing.csv", "video,fps,frames\na,25.0,3\nb,25.0,4\nc,25.0,3\nd,25.0,9\n")
    shutil.rmtree(layout / "videos")  # nothing to probe: the CSV alone gives the timing
    given = f"data.video_timing={timing}"
    code, out, result = doctor(layout, capsys, "--for", "face", "--set", given)
    assert code == 0 and "fps" not in result["checks"]
    check = result["checks"]["video timing"]
    assert check["ok"] == 3 and check["warnings"] == 1 and check["errors"] == 0  # d: 9 frames, 2 annotated
    assert not fps_table_path(layout / "out").exists()
    timing.write_text("video,fps,frames\na,25.0,3\nc,25.0,3\nd,25.0,2\n")
    code, out, result = doctor(layout, capsys, "--set", given)
    assert code == 1 and result["checks"]["video timing"]["errors"] == 1
    assert f"error: video timing: {timing}: no line for video b;" in out
