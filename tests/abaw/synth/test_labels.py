import numpy as np

from abaw.affwild import read_annotation, read_template
from abaw.synth.labels import (
    Words,
    annotation_text,
    gather,
    openmouth_text,
    rows_text,
    template_text,
    value_words,
    write_annotation,
)


def test_rows_join_literals_and_words_without_a_loop():
    words = Words(["a", "bb", ""])
    assert rows_text(["<", (words, np.array([1, 0, 2])), ">\n"], 3) == b"<bb>\n<a>\n<>\n"
    assert rows_text(["x"], 0) == b""
    assert gather(np.zeros(0, np.uint8), np.zeros(0, np.int64), np.zeros(0, np.int64)).size == 0


def test_value_words_write_three_decimals_without_trailing_zeros():
    words = value_words()
    def word(q: int) -> str:
        start, length = words.starts[q + 1000], words.lengths[q + 1000]
        return words.buffer[start:start + length].tobytes().decode()
    assert [word(q) for q in (-1000, -500, -1, 0, 250, 1000)] == ["-1", "-0.5", "-0.001", "0", "0.25", "1"]


def test_annotation_round_trips_through_the_reader(tmp_path):
    valence = np.array([0.1234, -1.0, 1.0, 0.0, -0.5], np.float32)
    arousal = np.array([0.5, 0.25, -0.125, 0.9, 1.5], np.float32)
    labelled = np.array([True, True, False, True, True])
    text = annotation_text(valence, arousal, labelled)
    assert text.splitlines()[:4] == [b"valence,arousal", b"0.123,0.5", b"-1,0.25", b"-5,-5"]
    path = tmp_path / "v.txt"
    write_annotation(path, valence, arousal, labelled)
    back = read_annotation(path)
    assert np.isnan(back[2]).all()
    expected = np.stack([valence, np.clip(arousal, -1, 1)], axis=1).round(3)
    assert np.allclose(back[labelled], expected[labelled], atol=1e-6)


def test_template_lists_every_frame_in_video_order(tmp_path):
    text = template_text(["b_left", "a"], [2, 3])
    assert text.decode().splitlines() == ["image_location,valence,arousal", "b_left/00001.jpg,0,0",
                                          "b_left/00002.jpg,0,0", "a/00001.jpg,0,0", "a/00002.jpg,0,0",
                                          "a/00003.jpg,0,0"]
    (tmp_path / "t.txt").write_bytes(text)
    template = read_template(tmp_path / "t.txt")
    assert list(template.videos) == ["b_left", "a"] and list(template.frames) == [1, 2, 1, 2, 3]


def test_openmouth_has_the_original_pandas_layout():
    text = openmouth_text(np.array([1, 2, 7]), np.array([0.0, 12.34, 250.06]), np.array([False, False, True]))
    assert text.decode().splitlines() == [",frame,surface_area_mouth,mouth_open", "0,00001,0.0,0",
                                          "1,00002,12.3,0", "2,00007,250.1,1"]
