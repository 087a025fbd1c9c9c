import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from abaw.errors import AbawError
from abaw.tables import (
    Table,
    align_rows,
    frames_table,
    lookup_rows,
    make_meta,
    merge_tables,
    read_table,
    segments_table,
    validate_table,
    windows_table,
    write_table,
)

ROOT = Path(__file__).resolve().parents[2]


def small_frames(videos=("a", "b", "c"), counts=(3, 0, 4), split="val", dim=4, seed=0) -> Table:
    """Frames with gaps: video i holds frames 2, 4, 6, ... so both exact misses and nearest hits exist."""
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    frame = np.concatenate([2 * np.arange(1, c + 1) for c in counts])
    n = int(offsets[-1])
    label = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    label[0] = np.nan
    return frames_table(
        list(videos), offsets, frame=frame, embedding=rng.normal(size=(n, dim)).astype(np.float16),
        prediction=rng.uniform(-1, 1, (n, 2)), label=label,
        meta=make_meta("frames", split, "face", "test", config_sha="abc123"),
    )


def assert_same(a: Table, b: Table) -> None:
    assert a.kind == b.kind and a.meta == b.meta
    np.testing.assert_array_equal(a.videos, b.videos)
    np.testing.assert_array_equal(a.offsets, b.offsets)
    assert set(a.columns) == set(b.columns)
    for name, arr in a.columns.items():
        assert arr.dtype == b.columns[name].dtype, name
        np.testing.assert_array_equal(arr, b.columns[name])


def test_make_meta_fields():
    meta = make_meta("windows", "train", "audio", "audio extract", config_sha="f00", hop=2)
    assert meta["format"] == "abaw.windows/1" and meta["kind"] == "windows" and meta["hop"] == 2
    assert meta["split"] == "train" and meta["config_sha"] == "f00" and "T" in meta["created"]
    with pytest.raises(AbawError, match="unknown table kind"):
        make_meta("clips", "train", "audio", "x")


def test_frames_round_trip_keeps_dtypes_and_meta(tmp_path):
    table = small_frames()
    assert table.columns["prediction"].dtype == np.float32  # float64 input cast by the constructor
    assert table.columns["embedding"].dtype == np.float16  # half precision kept
    path = write_table(tmp_path / "val.npz", table)
    back = read_table(path, kind="frames")
    assert_same(table, back)
    assert np.isnan(back.columns["label"][0]).all()
    assert back.rows("c") == slice(3, 7) and back.rows("b") == slice(3, 3) and back.n_rows == 7
    np.testing.assert_array_equal(back.video_of_row(), [0, 0, 0, 2, 2, 2, 2])
    with pytest.raises(AbawError, match="'zz' is not in this frames table"):
        back.rows("zz")


def test_frames_defaults_are_nan_and_empty_embedding():
    table = frames_table(["v"], [0, 2], frame=[1, 2], meta=make_meta("frames", "test", "face", "t"))
    assert table.columns["embedding"].shape == (2, 0)
    assert np.isnan(table.columns["prediction"]).all() and np.isnan(table.columns["label"]).all()


def test_segments_round_trip(tmp_path):
    meta = make_meta("segments", "train", "behaviour", "test")
    table = segments_table(
        ["x", "y"], [0, 2, 3], start=[0, 60, 0], stop=[120, 180, 50],
        embeddings={"mean": np.ones((3, 5)), "last": np.zeros((3, 5), np.float16)},
        label=np.zeros((3, 2)), meta=meta,
    )
    assert set(table.columns) == {"start", "stop", "label", "embedding/mean", "embedding/last"}
    back = read_table(write_table(tmp_path / "train.npz", table), kind="segments")
    assert_same(table, back)


def test_windows_round_trip(tmp_path):
    n, steps = 3, 4
    table = windows_table(
        ["w"], [0, n], start=[0, 50, 50], stop=[100, 150, 150],
        embedding=np.zeros((n, steps, 6), np.float32), prediction=np.zeros((n, steps, 2)),
        coverage=[1.0, 0.9, 0.5], meta=make_meta("windows", "val", "audio", "test"),
    )
    assert np.isnan(table.columns["open_sec"]).all() and table.columns["label"].shape == (n, steps, 2)
    back = read_table(write_table(tmp_path / "val.npz", table))
    assert_same(table, back)


def test_read_with_wrong_kind(tmp_path):
    path = write_table(tmp_path / "val.npz", small_frames())
    with pytest.raises(AbawError, match="is a 'frames' table, expected a 'windows' table"):
        read_table(path, kind="windows")


def raw_arrays(table: Table) -> dict:
    return {"videos": table.videos, "offsets": table.offsets, "meta": np.array(json.dumps(table.meta)),
            **table.columns}


def test_wrong_dtype_in_file_names_file_and_column(tmp_path):
    arrays = raw_arrays(small_frames())
    arrays["prediction"] = arrays["prediction"].astype(np.float64)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(AbawError, match=r"bad\.npz: column 'prediction' has dtype float64, expected float32"):
        read_table(path)


def test_wrong_shape_is_refused():
    table = small_frames()
    table.columns["label"] = table.columns["label"][:, :1].copy()
    with pytest.raises(AbawError, match=r"column 'label' has shape \[7, 1\], expected \[N, 2\]"):
        validate_table(table)


def test_unsorted_frames_name_the_video(tmp_path):
    table = small_frames()
    table.columns["frame"][[4, 5]] = table.columns["frame"][[5, 4]]
    with pytest.raises(AbawError, match=r"in video 'c', frame 4 at row 5 is out of order"):
        write_table(tmp_path / "val.npz", table)
    assert list(tmp_path.iterdir()) == []  # refused before writing, nothing half-written left behind


def test_duplicate_frame_is_refused():
    table = small_frames()
    table.columns["frame"][4] = table.columns["frame"][3]
    with pytest.raises(AbawError, match=r"in video 'c', frame 2 at row 4 appears twice"):
        validate_table(table)


def test_frames_restart_across_videos_is_fine():
    # Every video starts again at frame 2: the ordering check must not compare across a video boundary.
    table = small_frames(videos=("a", "b"), counts=(5, 5))
    assert table.columns["frame"][5] < table.columns["frame"][4]


def test_frame_zero_is_refused():
    table = small_frames()
    table.columns["frame"][0] = 0
    with pytest.raises(AbawError, match="below 1; frames are 1-based"):
        validate_table(table)


@pytest.mark.parametrize(
    ("offsets", "message"),
    [
        ([1, 3, 3, 7], "must start at 0"),
        ([0, 4, 3, 7], "'offsets' decrease at video 'b'"),
        ([0, 3, 3, 6], "'offsets' end at 6 but column 'frame' has 7 rows"),
        ([0, 3, 7], r"'offsets' must be int64 \[V\+1\] = \[4\]"),
    ],
)
def test_broken_offsets(offsets, message):
    table = small_frames()
    table.offsets = np.array(offsets, dtype=np.int64)
    with pytest.raises(AbawError, match=message):
        validate_table(table)


def test_missing_column_in_file(tmp_path):
    arrays = raw_arrays(small_frames())
    del arrays["label"]
    np.savez(tmp_path / "val.npz", **arrays)
    with pytest.raises(AbawError, match=r"val\.npz: frames table lacks column 'label'"):
        read_table(tmp_path / "val.npz")


def test_not_a_table_and_bad_meta(tmp_path):
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    with pytest.raises(AbawError, match="no 'videos' array, so this is not an abaw table"):
        read_table(tmp_path / "plain.npz")
    arrays = raw_arrays(small_frames())
    arrays["meta"] = np.array("{not json")
    np.savez(tmp_path / "meta.npz", **arrays)
    with pytest.raises(AbawError, match="'meta' is not valid JSON"):
        read_table(tmp_path / "meta.npz")


def test_meta_kind_must_match():
    table = small_frames()
    table.meta = make_meta("segments", "val", "face", "t")
    with pytest.raises(AbawError, match="meta kind 'segments' does not match the table kind 'frames'"):
        validate_table(table)


def test_duplicate_video_id_is_refused():
    with pytest.raises(AbawError, match="video 'a' appears twice"):
        small_frames(videos=("a", "b", "a"))


def test_object_arrays_are_refused(tmp_path):
    arrays = raw_arrays(small_frames())
    arrays["note"] = np.array([{"x": 1}] * 7, dtype=object)
    np.savez(tmp_path / "obj.npz", **arrays)
    with pytest.raises(AbawError, match=r"obj\.npz: cannot be read without pickle"):
        read_table(tmp_path / "obj.npz")
    table = small_frames()
    table.columns["note"] = arrays["note"]
    with pytest.raises(AbawError, match="column 'note'"):
        write_table(tmp_path / "out.npz", table)
    assert not (tmp_path / "out.npz").exists()


def test_extra_columns_round_trip(tmp_path):
    table = small_frames()
    table.columns["face_found"] = np.ones(7, dtype=bool)
    back = read_table(write_table(tmp_path / "x.npz", table))
    assert back.columns["face_found"].dtype == bool and back.columns["face_found"].all()


def test_segments_bounds_and_order():
    meta = make_meta("segments", "train", "behaviour", "t")
    with pytest.raises(AbawError, match=r"in video 'x', row 1 is \[60, 60\); need 0 <= start < stop"):
        segments_table(["x"], [0, 2], start=[0, 60], stop=[120, 60], meta=meta)
    with pytest.raises(AbawError, match=r"column 'start': in video 'x', start 0 at row 1 is out of order"):
        segments_table(["x"], [0, 2], start=[60, 0], stop=[120, 60], meta=meta)
    # Equal starts are allowed for segments (non-decreasing, not strictly increasing).
    segments_table(["x"], [0, 2], start=[0, 0], stop=[60, 120], meta=meta)


def test_windows_steps_must_agree():
    with pytest.raises(AbawError, match="disagree on the steps per window"):
        windows_table(["w"], [0, 1], start=[0], stop=[10], embedding=np.zeros((1, 3, 4), np.float32),
                      prediction=np.zeros((1, 4, 2)), meta=make_meta("windows", "val", "audio", "t"))


# -------------------------------------------------------------------------------------------------- lookups


def test_lookup_exact():
    table = small_frames()  # a: frames 2,4,6 (rows 0-2); b: none; c: 2,4,6,8 (rows 3-6)
    rows = lookup_rows(table, ["a", "a", "c", "c", "b", "zz", "a", "c"], [2, 3, 8, 9, 2, 2, 6, 2])
    np.testing.assert_array_equal(rows, [0, -1, 6, -1, -1, -1, 2, 3])
    assert rows.dtype == np.int64


def test_lookup_nearest():
    table = small_frames()
    rows = lookup_rows(table, ["a", "a", "a", "a", "c", "c", "b", "zz", "c"],
                       [3, 1, 100, -7, 5, 7, 4, 1, 8], nearest=True)
    # 3 ties between frames 2 and 4: the earlier wins; 1 -> 2; beyond the ends -> the end rows;
    # b has no rows and zz is unknown -> -1.
    np.testing.assert_array_equal(rows, [0, 0, 2, 0, 4, 5, -1, -1, 6])


@pytest.mark.parametrize("empty", [(0,), (5,), (11,), (0, 1, 11), (10, 11)])
def test_lookup_matches_a_plain_search_on_random_data(empty):
    rng = np.random.default_rng(3)
    counts = rng.integers(1, 30, size=12)
    counts[list(empty)] = 0  # videos without rows first, inside and last (where its start is the table end)
    names = [f"v{i:02d}" for i in range(12)]
    offsets = np.concatenate([[0], np.cumsum(counts)])
    frame = np.concatenate([np.sort(rng.choice(60, size=c, replace=False)) + 1 for c in counts])
    table = frames_table(names, offsets, frame=frame, meta=make_meta("frames", "val", "face", "t"))
    q_videos = rng.choice(names + ["nope"], size=500)
    q_frames = rng.integers(-5, 70, size=500)
    exact = lookup_rows(table, q_videos, q_frames)
    near = lookup_rows(table, q_videos, q_frames, nearest=True)
    for video, f, e, n in zip(q_videos, q_frames, exact, near, strict=True):
        if video == "nope" or counts[names.index(video)] == 0:
            assert e == -1 and n == -1
            continue
        rows = np.arange(table.rows(video).start, table.rows(video).stop)
        frames = frame[rows]
        assert e == (rows[frames == f][0] if (frames == f).any() else -1)
        distance = np.abs(frames - f)
        assert n == rows[np.argmin(distance)]  # argmin picks the earlier row on a tie


def test_align_rows_answers_like_both_lookups_over_grouped_positions():
    table = small_frames()  # a: frames 2,4,6; b: none; c: 2,4,6,8
    videos, offsets, frames = ["c", "a", "b", "zz"], [0, 3, 6, 7, 8], [1, 4, 9, 1, 2, 7, 2, 2]
    rows, exact = align_rows(table, videos, offsets, frames)
    per_frame = np.repeat(videos, np.diff(offsets))
    np.testing.assert_array_equal(rows, lookup_rows(table, per_frame, frames, nearest=True))
    np.testing.assert_array_equal(exact, lookup_rows(table, per_frame, frames) >= 0)
    same, own = align_rows(table, table.videos, table.offsets, table.columns["frame"])
    np.testing.assert_array_equal(same, np.arange(table.n_rows))
    assert own.all()


def test_lookup_on_empty_table_and_wrong_kind():
    empty = frames_table([], [0], frame=[], meta=make_meta("frames", "val", "face", "t"))
    np.testing.assert_array_equal(lookup_rows(empty, ["a"], [1], nearest=True), [-1])
    rows, exact = align_rows(empty, ["a"], [0, 1], [1])
    assert rows.tolist() == [-1] and exact.tolist() == [False]
    seg = segments_table(["x"], [0, 1], start=[0], stop=[5], meta=make_meta("segments", "val", "b", "t"))
    with pytest.raises(AbawError, match="needs a frames table"):
        lookup_rows(seg, ["x"], [1])


# ---------------------------------------------------------------------------------------------------- merge


def shard(videos, counts, seed):
    return small_frames(videos=videos, counts=counts, seed=seed)


def test_merge_sorts_videos_and_keeps_rows():
    first, second = shard(("d", "a"), (2, 3), 1), shard(("c", "b"), (1, 0), 2)
    merged = merge_tables([first, second])
    np.testing.assert_array_equal(merged.videos, ["a", "b", "c", "d"])
    np.testing.assert_array_equal(merged.offsets, [0, 3, 3, 4, 6])
    for part in (first, second):
        for video in part.videos:
            for name, arr in part.columns.items():
                np.testing.assert_array_equal(merged.columns[name][merged.rows(video)], arr[part.rows(video)])
    assert merged.meta["shards"] == 2 and merged.meta["split"] == "val"


def test_merge_refuses_duplicate_video_and_other_split():
    with pytest.raises(AbawError, match="video 'a' is in both one.npz and two.npz"):
        merge_tables([shard(("a", "b"), (1, 1), 1), shard(("a",), (2,), 2)], names=["one.npz", "two.npz"])
    with pytest.raises(AbawError, match="meta split is 'train' but shard 0 has 'val'"):
        merge_tables([small_frames(), small_frames(split="train")])
    with pytest.raises(AbawError, match=r"column 'embedding' is float16 \[8\] per row but shard 0 has"):
        merge_tables([shard(("a",), (1,), 1), small_frames(videos=("b",), counts=(1,), dim=8)])


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "abaw", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_merge_command(tmp_path):
    write_table(tmp_path / "s0.npz", shard(("d", "a"), (2, 3), 1))
    write_table(tmp_path / "s1.npz", shard(("c", "b"), (1, 0), 2))
    done = run_cli("merge", str(tmp_path / "val.npz"), str(tmp_path / "s0.npz"), str(tmp_path / "s1.npz"),
                   "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "out": str(tmp_path / "val.npz"), "shards": 2, "videos": 4, "rows": 6}
    np.testing.assert_array_equal(read_table(tmp_path / "val.npz").videos, ["a", "b", "c", "d"])

    write_table(tmp_path / "s2.npz", shard(("a",), (1,), 3))
    done = run_cli("merge", "--out", str(tmp_path / "bad.npz"), "--inputs", str(tmp_path / "s0.npz"),
                   str(tmp_path / "s2.npz"))
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "video 'a' is in both" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "bad.npz").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s0.npz", "s1.npz", "s2.npz", "val.npz"]


def test_bad_tables_through_the_cli(tmp_path):
    arrays = raw_arrays(small_frames())
    arrays["prediction"] = arrays["prediction"].astype(np.float64)
    np.savez(tmp_path / "dtype.npz", **arrays)
    arrays = raw_arrays(small_frames())
    arrays["frame"] = arrays["frame"][::-1].copy()
    np.savez(tmp_path / "order.npz", **arrays)
    for name, message in (("dtype.npz", "column 'prediction' has dtype float64"),
                          ("order.npz", "in video 'a', frame 6 at row 1 is out of order (previous 8)")):
        done = run_cli("merge", str(tmp_path / "out.npz"), str(tmp_path / name))
        assert done.returncode == 1
        assert done.stderr.startswith(f"error: {tmp_path / name}: ") and message in done.stderr
        assert done.stderr.count("\n") == 1  # one line, no traceback
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("command", ["evaluate", "convert", "merge"])
def test_a_truncated_table_is_one_line_in_every_command_that_reads_tables(tmp_path, capsys, command):
    from abaw.cli import main

    table = tmp_path / "val.npz"
    write_table(table, small_frames())
    table.write_bytes(table.read_bytes()[:600])  # a copy cut short
    (tmp_path / "Validation_Set").mkdir()
    (tmp_path / "Validation_Set" / "a.txt").write_text("valence,arousal\n0.1,0.2\n")
    args = {"evaluate": ["--annotations", str(tmp_path / "Validation_Set"), "--predictions", str(table)],
            "convert": ["--to", "pkl", str(table), str(tmp_path / "val.pkl")],
            "merge": [str(tmp_path / "out.npz"), str(table)]}[command]
    assert main([command, *args]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: {table}: damaged or incomplete (")
    assert "write it again with the command that produced it" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Validation_Set", "val.npz"]


def test_merge_joins_texts_sidecars_in_video_order(tmp_path):
    from abaw.tables import merge_texts, texts_sidecar

    shards = []
    for i, videos in enumerate((["b"], ["a", "c"])):
        path = tmp_path / f"val-{i}of2.npz"
        lines = [json.dumps({"video": v, "start": s, "description": f"{v}{s}"})
                 for v in videos for s in (0, 50)]
        texts_sidecar(path).write_text("\n".join(lines) + "\n")
        shards.append(path)
    assert texts_sidecar(tmp_path / "val-0of2.npz").name == "val-0of2.texts.jsonl"
    out = merge_texts(tmp_path / "val.npz", shards, np.array(["a", "b", "c"]))
    merged = [json.loads(line)["description"] for line in out.read_text().splitlines()]
    assert merged == ["a0", "a50", "b0", "b50", "c0", "c50"]
    assert merge_texts(tmp_path / "other.npz", [tmp_path / "absent.npz"], np.array(["a"])) is None
    texts_sidecar(shards[1]).write_text("not json\n")
    with pytest.raises(AbawError, match=r"val-1of2.texts.jsonl:1: not a JSON object"):
        merge_texts(tmp_path / "val2.npz", shards, np.array(["a", "b", "c"]))
    assert not texts_sidecar(tmp_path / "val2.npz").exists()
