import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from abaw.affwild import frame_keys, read_template
from abaw.errors import AbawError
from abaw.submission import (
    HEADER,
    read_submission,
    submission_problems,
    validate_submission,
    write_submission,
    write_video_txts,
)

ROOT = Path(__file__).resolve().parents[2]


def write_template(path: Path, rows: list[tuple[str, int]]) -> Path:
    lines = [HEADER] + [f"{video}/{frame:05d}.jpg,-5,-5" for video, frame in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def template_path(tmp_path):
    return write_template(tmp_path / "template.txt", [(v, k) for v in ("a", "b_left") for k in range(1, 7)])


@pytest.fixture
def good_lines(tmp_path, template_path):
    path = tmp_path / "good.csv"
    write_submission(path, read_template(template_path), np.linspace(-0.9, 0.9, 24).reshape(12, 2))
    return path.read_text().splitlines()


def test_write_submission_rows_in_template_order_clipped(tmp_path):
    rows = [("vid_right", 3), ("vid_right", 1), ("2-30-640x360", 100000), ("vidé", 7)]
    template = read_template(write_template(tmp_path / "t.txt", rows))
    predictions = np.array([[0.1234564, -0.5], [1.7, -3.0], [-0.0000001, 0.9999996], [np.float32(0.25), -1]])
    path = write_submission(tmp_path / "s.csv", template, predictions)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines == [
        HEADER,
        "vid_right/00003.jpg,0.123456,-0.500000",
        "vid_right/00001.jpg,1.000000,-1.000000",
        "2-30-640x360/100000.jpg,0.000000,1.000000",
        "vidé/00007.jpg,0.250000,-1.000000",
    ]
    assert [line.split(",")[0] for line in lines[1:]] == list(template.keys())


def test_write_submission_matches_frame_keys_at_scale(tmp_path):
    rng = np.random.default_rng(0)
    rows = [(f"v{v}", int(k)) for v in range(7) for k in np.sort(rng.choice(120000, 50, replace=False)) + 1]
    template = read_template(write_template(tmp_path / "t.txt", rows))
    values = rng.uniform(-1, 1, (len(rows), 2))
    keys, parsed = read_submission(write_submission(tmp_path / "s.csv", template, values))
    assert list(keys) == list(frame_keys(template.videos, template.video_idx, template.frames))
    np.testing.assert_allclose(parsed, values, atol=5e-7)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -5.0])
def test_write_submission_refuses_nan_and_leaves_no_file(tmp_path, template_path, bad):
    template = read_template(template_path)
    predictions = np.zeros((12, 2))
    predictions[[3, 8], 1] = bad
    target = tmp_path / "out" / "submission.csv"
    target.parent.mkdir()
    with pytest.raises(AbawError, match=r"2 rows have a NaN, inf or -5 prediction \(first: a/00004.jpg, "
                                        r"b_left/00003.jpg\)"):
        write_submission(target, template, predictions)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_write_submission_refuses_wrong_shape(tmp_path, template_path):
    with pytest.raises(AbawError, match=r"expected \[12, 2\]"):
        write_submission(tmp_path / "s.csv", read_template(template_path), np.zeros((11, 2)))


def test_write_video_txts(tmp_path):
    predictions = np.array([[0.5, -0.25], [2.0, 0.0], [-0.1, 0.3], [0.0, -1.5], [0.7, 0.7]])
    out = write_video_txts(tmp_path / "txt", np.array(["x", "y_left", "z"]), [0, 2, 2, 5], predictions)
    assert sorted(p.name for p in out.iterdir()) == ["x.txt", "y_left.txt", "z.txt"]
    assert (out / "x.txt").read_text() == "valence,arousal\n0.500000,-0.250000\n1.000000,0.000000\n"
    assert (out / "y_left.txt").read_text() == "valence,arousal\n"
    assert (out / "z.txt").read_text() == ("valence,arousal\n-0.100000,0.300000\n0.000000,-1.000000\n"
                                           "0.700000,0.700000\n")


def test_write_video_txts_refuses_nan_before_writing(tmp_path):
    predictions = np.zeros((4, 2))
    predictions[3, 0] = np.nan
    with pytest.raises(AbawError, match="first: b frame 2"):
        write_video_txts(tmp_path / "txt", ["a", "b"], [0, 2, 4], predictions)
    assert not (tmp_path / "txt").exists()


def test_valid_submission_has_no_problems(tmp_path, template_path, good_lines):
    assert validate_submission(template_path, tmp_path / "good.csv") == []
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes(("\r\n".join(good_lines) + "\r\n\r\n").encode())
    assert validate_submission(template_path, crlf) == []


def edit(lines: list[str], name: str) -> list[str]:
    """A broken copy of a valid 12-row submission (line i of the file is lines[i - 1])."""
    lines = list(lines)
    if name == "missing row":
        del lines[4]
    elif name == "row out of order":
        lines[3], lines[4] = lines[4], lines[3]
    elif name == "NaN":
        lines[6] = "a/00006.jpg,nan,0.1"
    elif name == "value of 5":
        lines[8] = "b_left/00002.jpg,5,0.1"
    elif name == "-5":
        lines[9] = "b_left/00003.jpg,0.2,-5"
    return lines


def run_validate(template: Path, submission: Path, *extra: str) -> subprocess.CompletedProcess:
    """`python -m abaw validate-submission` in a fresh interpreter, as a user runs it."""
    command = [sys.executable, "-m", "abaw", "validate-submission", "--template", str(template),
               "--submission", str(submission), *extra]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


CASES = {
    "missing row": ["11 rows; the template has 12",
                    "1 template row missing: 'a/00004.jpg' (expected at line 5)"],
    "row out of order": ["1 row out of the template's order: line 5 ('a/00003.jpg' after 'a/00004.jpg')"],
    "NaN": ["1 row with NaN or inf: line 7 (valence nan)"],
    "value of 5": ["1 row with values outside [-1, 1]: line 9 (valence 5)"],
    "-5": ["1 row holding a -5 placeholder", "line 10 (arousal -5)"],
}


@pytest.mark.parametrize("case", list(CASES))
def test_validate_submission_command_reports_line_and_exits_1(tmp_path, template_path, good_lines, case):
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(edit(good_lines, case)) + "\n")
    done = run_validate(template_path, broken)
    assert done.returncode == 1, done.stderr
    for expected in CASES[case]:
        assert expected in done.stdout
    assert "OK" not in done.stdout


def test_validate_submission_command_refuses_a_template_with_a_duplicate_row(tmp_path, template_path,
                                                                          good_lines):
    lines = template_path.read_text().splitlines()
    duplicated = tmp_path / "duplicated.txt"
    duplicated.write_text("\n".join([*lines, lines[3]]) + "\n")
    done = run_validate(duplicated, tmp_path / "good.csv")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: {duplicated}:{len(lines) + 1}: duplicate row")


def test_validate_submission_command_accepts_valid_file(tmp_path, template_path, good_lines):
    done = run_validate(template_path, tmp_path / "good.csv", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == "OK: 12 rows"
    assert done.stdout.splitlines()[-1] == '{"ok": true, "rows": 12, "problems": []}'


def test_structural_problems_each_named(tmp_path, template_path, good_lines):
    lines = ["image_location,valence"] + good_lines[1:2] + ["", "a/00002.jpg,0.1", "a/00003.jpg,x,1"]
    lines += good_lines[4:] + ["zz/00001.jpg,0,0", good_lines[5]]
    path = tmp_path / "junk.csv"
    path.write_text("\n".join(lines) + "\n")
    problems = submission_problems(read_template(template_path), path)
    assert problems == [
        "line 1: header 'image_location,valence'; it must be exactly 'image_location,valence,arousal'",
        "1 blank line: line 3; remove them",
        "14 rows; the template has 12 (one row per template frame)",
        "1 row not in the template: line 15 ('zz/00001.jpg'); every image_location must be a template row",
        "1 duplicate row: line 16 repeats line 7 ('a/00005.jpg'); keep one row per template frame",
        "1 row without 3 fields: line 4 (2 fields); every row is image_location,valence,arousal",
        "1 row with a value that is not a number: line 5 (valence 'x'); write plain decimal numbers",
    ]


def test_missing_header_is_a_problem(tmp_path, template_path, good_lines):
    path = tmp_path / "noheader.csv"
    path.write_text("\n".join(good_lines[1:]) + "\n")
    assert submission_problems(read_template(template_path), path) == [
        "line 1: no header; the first line must be 'image_location,valence,arousal'"]


def test_long_lists_are_cut_with_a_count(tmp_path):
    template_path = write_template(tmp_path / "t.txt", [("v", k) for k in range(1, 31)])
    values = np.zeros((30, 2))
    values[5:20, 1] = 1.5
    text = HEADER + "\n" + "".join(f"v/{k:05d}.jpg,{v:g},{a:g}\n" for k, (v, a) in enumerate(values, 1))
    path = tmp_path / "s.csv"
    path.write_text(text)
    (problem,) = validate_submission(template_path, path)
    assert problem.startswith("15 rows with values outside [-1, 1]: line 7 (arousal 1.5), line 8 (")
    assert "line 16 (arousal 1.5), ... (5 more); clip" in problem


def test_moved_row_is_one_order_problem(tmp_path):
    template_path = write_template(tmp_path / "t.txt", [("v", k) for k in range(1, 201)])
    keys = [f"v/{k:05d}.jpg" for k in range(1, 201)]
    keys.insert(1, keys.pop(150))
    path = tmp_path / "s.csv"
    path.write_text(HEADER + "\n" + "".join(f"{k},0,0\n" for k in keys))
    assert validate_submission(template_path, path) == [
        "1 row out of the template's order: line 4 ('v/00002.jpg' after 'v/00151.jpg'); write rows in "
        "template order (abaw.submission.write_submission does)"]


def test_read_submission_errors_name_the_line(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(f"{HEADER}\na/00001.jpg,0.1,0.2\na/00002.jpg,0.1,zero\n")
    with pytest.raises(AbawError, match=r"p.csv:3: 'zero' is not a number"):
        read_submission(path)
    path.write_text("a/00001.jpg,0.1,0.2\na/00002.jpg,0.1\n")
    with pytest.raises(AbawError, match=r"p.csv:2: 2 fields, expected 3"):
        read_submission(path)
    path.write_text("a/00001.jpg,0.1,0.2\na/00002.jpg,nan,-0.5\n")
    keys, values = read_submission(path)
    assert list(keys) == ["a/00001.jpg", "a/00002.jpg"]
    np.testing.assert_array_equal(values, [[0.1, 0.2], [np.nan, -0.5]])
    with pytest.raises(AbawError, match="file not found"):
        read_submission(tmp_path / "absent.csv")


def test_numbers_in_any_spelling_parse_like_float(tmp_path):
    texts = ["0.123456", "-0.999999", "-0.000000", "1.000000", "0.5", "-.25", "+0.100000", "1e-3", " 0.3",
             "-5", "inf", "12.000000", "0.1234567"]
    path = tmp_path / "p.csv"
    path.write_text("".join(f"v/{k:05d}.jpg,{t},{t}\n" for k, t in enumerate(texts, 1)))
    _, values = read_submission(path)
    expected = [float(t) for t in texts]
    np.testing.assert_array_equal(values, np.array([expected, expected]).T)
