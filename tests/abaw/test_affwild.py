import json

import numpy as np
import pytest

from abaw import affwild
from abaw.affwild import (
    FpsTable,
    base_video,
    find_video_file,
    frame_keys,
    index_folder,
    index_split,
    measure_fps,
    parse_frame_keys,
    probe_video,
    read_annotation,
    read_template,
)
from abaw.cli import main
from abaw.errors import AbawError


def write(path, text, newline="\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def write_video(path, n_frames=12, fps=25.0):
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (32, 32))
    assert writer.isOpened()
    for i in range(n_frames):
        writer.write(np.full((32, 32, 3), 10 * i, np.uint8))
    writer.release()
    return path


# ------------------------------------------------------------------------------------------- annotations


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_annotation_with_header_crlf_trailing_blanks_and_missing(tmp_path, newline):
    path = write(tmp_path / "v.txt", "valence,arousal\n0.5,-0.25\n-5,-5\n1,-1\n\n\n", newline)
    values = read_annotation(path)
    assert values.dtype == np.float32 and values.shape == (3, 2)
    np.testing.assert_array_equal(values[[0, 2]], [[0.5, -0.25], [1, -1]])
    assert np.isnan(values[1]).all()


def test_annotation_without_header_or_final_newline(tmp_path):
    values = read_annotation(write(tmp_path / "v.txt", "0.1,0.2\n0.3,0.4"))
    np.testing.assert_allclose(values, [[0.1, 0.2], [0.3, 0.4]], rtol=1e-6)


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("valence,arousal\n0.1,0.2\n0.3\n", 3, "expected 2 comma-separated values"),
        ("valence,arousal\n0.1,0.2\n0.3,0.1,0.2\n", 3, "found 3"),
        ("0.1,0.2\n0.1,0.2,\n", 2, "found 3"),
        ("valence,arousal\n0.1,abc\n", 2, "arousal 'abc' is not a number"),
        ("valence,arousal\n0.1,0.2\nnan,0.1\n", 3, "valence 'nan' is not a number"),
        ("valence,arousal\n0.1,0.2\n\n0.3,0.4\n", 3, "empty line"),
        ("0.1,0.2\n0.1,1.5\n", 2, "arousal 1.5 is outside"),
        ("valence,arousal\n-4,0.2\n", 2, "valence -4 is outside"),
        ("arousal,valence\n0.1,0.2\n", 1, "header"),
    ],
)
def test_malformed_annotation_names_file_and_line(tmp_path, body, line, message):
    path = write(tmp_path / "bad.txt", body)
    with pytest.raises(AbawError, match=message) as info:
        read_annotation(path)
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_empty_annotation_is_an_error(tmp_path):
    with pytest.raises(AbawError, match="no annotation lines"):
        read_annotation(write(tmp_path / "v.txt", "valence,arousal\n\n"))


def make_set(tmp_path, name="Train_Set"):
    folder = tmp_path / "annotations" / name
    write(folder / "b_left.txt", "valence,arousal\n0.1,0.2\n-5,-5\n0.3,0.4\n")
    write(folder / "a.txt", "0.5,0.5\r\n-0.5,-0.5\r\n", newline="")
    write(folder / "notes.md", "not an annotation file")
    return folder


def test_index_folder_builds_contiguous_arrays_sorted_by_video(tmp_path):
    index = index_folder(make_set(tmp_path))
    assert index.videos.tolist() == ["a", "b_left"]
    assert index.offsets.tolist() == [0, 2, 5] and index.offsets.dtype == np.int64
    assert index.frames.tolist() == [1, 2, 1, 2, 3] and index.frames.dtype == np.int32
    assert index.labels.dtype == np.float32 and index.labels.shape == (5, 2)
    assert index.n_frames == 5
    assert index.rows("b_left") == slice(2, 5) and index.position("b_left") == 1
    assert np.isnan(index.labels[index.rows("b_left")][1]).all()
    np.testing.assert_allclose(index.labels[index.rows("a")], [[0.5, 0.5], [-0.5, -0.5]])
    assert index.video_of_row().tolist() == [0, 0, 1, 1, 1]
    with pytest.raises(AbawError, match="'zzz' is not in this split"):
        index.rows("zzz")


def test_index_matches_reading_each_file(tmp_path):
    folder = tmp_path / "Validation_Set"
    rng = np.random.default_rng(0)
    for i in range(5):
        values = np.round(rng.uniform(-1, 1, (rng.integers(1, 40), 2)), 4)
        values[rng.random(len(values)) < 0.2] = -5
        header = "valence,arousal\n" if i % 2 else ""
        write(folder / f"v{i}.txt", header + "\n".join(f"{a},{b}" for a, b in values) + "\n")
    index = index_folder(folder)
    for video in index.videos:
        expected = read_annotation(folder / f"{video}.txt")
        np.testing.assert_array_equal(index.labels[index.rows(video)], expected)


def test_index_reports_the_bad_file_and_line(tmp_path):
    folder = make_set(tmp_path)
    write(folder / "c.txt", "valence,arousal\n0.1,0.2\n0.3;0.4\n")
    with pytest.raises(AbawError, match=r"c\.txt:3: expected 2 comma-separated values"):
        index_folder(folder)


def test_index_split_checks_its_arguments(tmp_path):
    make_set(tmp_path)
    assert index_split(tmp_path / "annotations", "train").n_frames == 5
    with pytest.raises(AbawError, match="unknown split 'dev'"):
        index_split(tmp_path / "annotations", "dev")
    with pytest.raises(AbawError, match="Validation_Set: annotation folder not found"):
        index_split(tmp_path / "annotations", "val")
    (tmp_path / "annotations" / "Test_Set").mkdir()
    with pytest.raises(AbawError, match="no <video>.txt annotation files"):
        index_split(tmp_path / "annotations", "test")


def test_index_command_prints_json_counts(tmp_path, capsys):
    make_set(tmp_path)
    assert main(["index", "--annotations", str(tmp_path / "annotations"), "--split", "train", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result == {"videos": 2, "frames": 5, "labelled": 4, "missing": 1}


def test_index_command_reports_a_user_mistake(tmp_path, capsys):
    assert main(["index", "--annotations", str(tmp_path), "--split", "val"]) == 1
    assert "error: " in capsys.readouterr().err


# ------------------------------------------------------------------------------------------- template


TEMPLATE = "image_location,valence,arousal\nv2/00001.jpg,0,0\nv2/00002.jpg,0,0\nv1_left/00001.jpg,0,0\n"


def test_template_keeps_file_order_and_first_appearance(tmp_path):
    template = read_template(write(tmp_path / "t.csv", TEMPLATE + "v2/100000.jpg,0,0\n\n", newline="\r\n"))
    assert template.videos.tolist() == ["v2", "v1_left"]
    assert template.video_idx.tolist() == [0, 0, 1, 0] and template.video_idx.dtype == np.int32
    assert template.frames.tolist() == [1, 2, 1, 100000] and template.frames.dtype == np.int32
    assert template.n_rows == 4 and not template.grouped
    assert template.rows("v2").tolist() == [0, 1, 3] and template.rows("v1_left").tolist() == [2]
    assert template.keys().tolist() == ["v2/00001.jpg", "v2/00002.jpg", "v1_left/00001.jpg", "v2/100000.jpg"]


def test_grouped_template_rows_are_contiguous(tmp_path):
    template = read_template(write(tmp_path / "t.csv", TEMPLATE))
    assert template.grouped and template.order.tolist() == [0, 1, 2]
    assert template.offsets.tolist() == [0, 2, 3]


def test_template_placeholder_values_are_not_parsed(tmp_path):
    template = read_template(write(tmp_path / "t.csv", "image_location,valence,arousal\nv/00003.jpg,1/2,x\n"))
    assert template.videos.tolist() == ["v"] and template.frames.tolist() == [3]


def test_template_duplicate_rows_name_their_lines(tmp_path):
    extra = "v1_left/00002.jpg,0,0\nv2/00001.jpg,0,0\nv1_left/00001.jpg,0,0\n"
    path = write(tmp_path / "t.csv", TEMPLATE + extra)
    with pytest.raises(AbawError) as info:
        read_template(path)
    message = str(info.value)
    assert message.startswith(f"{path}:6: duplicate row 'v2/00001.jpg', already at line 2")
    assert "also at lines 7" in message and "2 duplicate rows" in message


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("v2/00001.jpg,0,0\nv2/00002.jpg,0\n", 3, "expected 3 comma-separated fields"),
        ("v2/00001.jpg,0,0\n\nv2/00002.jpg,0,0\n", 3, "expected 3 comma-separated fields"),
        ("v2/00001.jpg,0,0\nv2/0000a.jpg,0,0\nv2/00003.png,0,0\n", 3,
         r"not '<video>/<NNNNN>.jpg': 'v2/0000a.jpg,0,0'; also lines 4$"),
        ("v2/00000.jpg,0,0\n", 2, "not '<video>/<NNNNN>.jpg'"),
        ("00001.jpg,0,0\n", 2, "not '<video>/<NNNNN>.jpg'"),
        ("a/b/00001.jpg,0,0\n", 2, "not '<video>/<NNNNN>.jpg'"),
    ],
)
def test_template_unparseable_rows_name_their_lines(tmp_path, body, line, message):
    path = write(tmp_path / "t.csv", "image_location,valence,arousal\n" + body)
    with pytest.raises(AbawError, match=message) as info:
        read_template(path)
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_template_header_must_be_exact(tmp_path):
    with pytest.raises(AbawError, match=r"t\.csv:1: header 'image,valence,arousal'"):
        read_template(write(tmp_path / "t.csv", "image,valence,arousal\nv/00001.jpg,0,0\n"))


# ------------------------------------------------------------------------------------------- frame keys


def test_frame_keys_round_trip():
    videos = np.array(["10-60-1280x720_right", "video7"])
    video_idx = np.array([1, 1, 0, 1], np.int32)
    frames = np.array([1, 99999, 7, 123456], np.int32)
    keys = frame_keys(videos, video_idx, frames)
    assert keys.tolist() == ["video7/00001.jpg", "video7/99999.jpg", "10-60-1280x720_right/00007.jpg",
                             "video7/123456.jpg"]
    parsed_videos, parsed_idx, parsed_frames = parse_frame_keys(keys)
    assert parsed_videos.tolist() == ["video7", "10-60-1280x720_right"]
    assert parsed_videos[parsed_idx].tolist() == videos[video_idx].tolist()
    assert parsed_frames.tolist() == frames.tolist()
    assert parse_frame_keys(keys.tolist())[2].tolist() == frames.tolist()


def test_parse_frame_keys_refuses_bad_keys():
    with pytest.raises(AbawError, match=r"frame key #1 'v/1\.png'"):
        parse_frame_keys(["v/00001.jpg", "v/1.png"])


# ------------------------------------------------------------------------------------------- video files


def test_base_video_strips_person_suffix():
    assert base_video("10-60-1280x720_left") == "10-60-1280x720"
    assert base_video("video2_right") == "video2"
    assert base_video("leftovers") == "leftovers"


def test_find_video_file_by_stem(tmp_path):
    videos = tmp_path / "videos"
    write(videos / "batch1" / "a.avi", "x")
    write(videos / "batch2" / "a.mp4", "x")
    write(videos / "b.MOV", "x")
    write(videos / "c.txt", "x")
    assert find_video_file(videos, "a_left") == videos / "batch2" / "a.mp4"
    assert find_video_file(videos, "b") == videos / "b.MOV"
    assert find_video_file(videos, "c") is None
    assert find_video_file(tmp_path / "absent", "a") is None
    write(videos / "c.mkv", "x")
    assert find_video_file(videos, "c_right") == videos / "c.mkv"


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("media") / "clip-30-32x32.mp4")


def test_fps_is_measured_from_the_file(video):
    assert measure_fps(video) == pytest.approx(25.0)
    assert probe_video(video).frames == 12


def test_fps_falls_back_to_ffmpeg(video, monkeypatch):
    monkeypatch.setattr(affwild, "_probe_opencv", lambda path: None)
    info = probe_video(video)
    assert info.fps == pytest.approx(25.0) and abs(info.frames - 12) <= 1


def test_unreadable_video_is_an_error(tmp_path):
    with pytest.raises(AbawError, match="neither OpenCV nor ffmpeg"):
        measure_fps(write(tmp_path / "broken.mp4", "not a video"))


def test_fps_table_measures_once_and_caches(video, tmp_path, monkeypatch):
    path = tmp_path / "cache" / "fps.csv"
    table = FpsTable.load(path)
    assert table.get(video) == pytest.approx(25.0)
    table.save()
    assert path.read_text().splitlines()[0] == "video,fps,frames,path,stamp"
    monkeypatch.setattr(affwild, "probe_video", lambda p: pytest.fail("a cached video was probed again"))
    reloaded = FpsTable.load(path)
    assert reloaded.get(video) == pytest.approx(25.0) and reloaded.info(video).frames == 12
    assert not reloaded.changed


def test_fps_table_measures_a_replaced_video_again(tmp_path):
    clip = write_video(tmp_path / "videos" / "clip.mp4", n_frames=12, fps=25.0)
    path = tmp_path / "cache" / "fps.csv"
    table = FpsTable.load(path)
    assert table.get(clip) == pytest.approx(25.0)
    table.save()
    write_video(clip, n_frames=20, fps=15.0)  # a regenerated dataset reuses the name
    reloaded = FpsTable.load(path)
    assert reloaded.get(clip) == pytest.approx(15.0) and reloaded.info(clip).frames == 20


def test_fps_table_refuses_a_corrupt_cache(tmp_path):
    path = write(tmp_path / "fps.csv", "video,fps,frames,path,stamp\na,fast,3,/x.mp4,1:2\n")
    with pytest.raises(AbawError, match=r"fps\.csv:2: .*delete the file"):
        FpsTable.load(path)


def test_index_labels_are_row_major(tmp_path):
    folder = tmp_path / "Train_Set"
    folder.mkdir()
    (folder / "a.txt").write_text("valence,arousal\n0.1,0.2\n0.3,0.4\n")
    labels = index_folder(folder).labels
    assert labels.flags.c_contiguous and labels.dtype == np.float32


def test_index_command_takes_a_split_folder_too(tmp_path, capsys):
    make_set(tmp_path)
    assert main(["index", "--annotations", str(tmp_path / "annotations" / "Train_Set"), "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("train (") and json.loads(out[-1])["frames"] == 5
