import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from abaw.errors import AbawError
from abaw.pkl import pkl_to_table, read_pkl, table_to_pkl, write_pkl
from abaw.tables import frames_table, make_meta, read_table, write_table

ROOT = Path(__file__).resolve().parents[2]


def table(dtype=np.float32):
    rng = np.random.default_rng(0)
    label = rng.uniform(-1, 1, (5, 2)).astype(np.float32)
    label[1] = np.nan
    return frames_table(
        ["b_left", "a"], [0, 3, 5], frame=[1, 2, 10, 7, 100],
        embedding=rng.normal(size=(5, 3)).astype(dtype), prediction=rng.uniform(-1, 1, (5, 2)), label=label,
        meta=make_meta("frames", "val", "face", "test"),
    )


def test_table_to_pkl_layout():
    data = table_to_pkl(table())
    assert list(data) == ["b_left/00001.jpg", "b_left/00002.jpg", "b_left/00010.jpg", "a/00007.jpg",
                          "a/00100.jpg"]
    entry = data["b_left/00002.jpg"]
    assert set(entry) == {"embedding", "prediction", "label"}
    assert entry["embedding"].shape == (3,) and entry["prediction"].shape == (2,)
    np.testing.assert_array_equal(entry["label"], [-5, -5])  # NaN label written the original way


def test_pkl_round_trip(tmp_path):
    original = table()
    path = write_pkl(tmp_path / "val.pkl", original)
    back = read_pkl(path, "val", allow_pickle=True, modality="face")
    # Videos come back sorted by id; each video's rows are unchanged.
    np.testing.assert_array_equal(back.videos, ["a", "b_left"])
    for video in original.videos:
        for name, arr in original.columns.items():
            np.testing.assert_array_equal(back.columns[name][back.rows(video)], arr[original.rows(video)])
            assert back.columns[name].dtype == arr.dtype
    assert back.meta["split"] == "val" and back.meta["modality"] == "face" and back.meta["kind"] == "frames"


def test_pkl_from_elsewhere_shuffled_float64_no_label_field():
    data = {
        "v/00003.jpg": {"embedding": np.array([1.0, 2.0]), "prediction": [0.1, 0.2]},
        "v/00001.jpg": {"embedding": np.array([3.0, 4.0]), "prediction": [0.3, 0.4]},
        "u/00002.jpg": {"embedding": np.array([5.0, 6.0]), "prediction": [0.5, 0.6]},
    }
    result = pkl_to_table(data, "test")
    np.testing.assert_array_equal(result.videos, ["u", "v"])
    np.testing.assert_array_equal(result.columns["frame"], [2, 1, 3])
    np.testing.assert_array_equal(result.columns["embedding"], [[5, 6], [3, 4], [1, 2]])
    assert result.columns["embedding"].dtype == np.float32
    assert np.isnan(result.columns["label"]).all()


def test_bad_pkl_contents():
    with pytest.raises(AbawError, match="x.pkl: holds a list"):
        pkl_to_table([1, 2], "val", source="x.pkl")
    with pytest.raises(AbawError, match=r"entry 'v/00002.jpg' has no 'label' while other entries do"):
        pkl_to_table({"v/00001.jpg": {"embedding": [1.0], "prediction": [0, 0], "label": [0, 0]},
                      "v/00002.jpg": {"embedding": [1.0], "prediction": [0, 0]}}, "val")
    with pytest.raises(AbawError, match="field 'embedding' cannot be stacked"):
        pkl_to_table({"v/00001.jpg": {"embedding": [1.0]}, "v/00002.jpg": {"embedding": [1.0, 2.0]}}, "val")
    with pytest.raises(AbawError, match=r"y.pkl: frame key #0 'v/1.png' is not"):
        pkl_to_table({"v/1.png": {"embedding": [1.0]}}, "val", source="y.pkl")
    with pytest.raises(AbawError, match=r"column 'prediction' has shape \[1, 3\]"):
        pkl_to_table({"v/00001.jpg": {"prediction": [0.0, 0.0, 0.0]}}, "val")


def test_read_pkl_needs_allow_pickle(tmp_path):
    path = tmp_path / "val.pkl"
    path.write_bytes(pickle.dumps({}))
    with pytest.raises(AbawError, match="unpickling a file can execute arbitrary code"):
        read_pkl(path, "val")
    path.write_bytes(b"not a pickle")
    with pytest.raises(AbawError, match="not a readable PKL"):
        read_pkl(path, "val", allow_pickle=True)


def test_write_pkl_refuses_other_kinds(tmp_path):
    from abaw.tables import segments_table

    seg = segments_table(["x"], [0, 1], start=[0], stop=[4], meta=make_meta("segments", "val", "b", "t"))
    with pytest.raises(AbawError, match="only frames tables convert to PKL"):
        write_pkl(tmp_path / "x.pkl", seg)
    assert list(tmp_path.iterdir()) == []


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "abaw", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_convert_command_round_trip(tmp_path):
    write_table(tmp_path / "val.npz", table(np.float16))
    done = run_cli("convert", "--to", "pkl", str(tmp_path / "val.npz"), str(tmp_path / "val.pkl"), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["rows"] == 5

    refused = run_cli("convert", "--to", "npz", str(tmp_path / "val.pkl"), str(tmp_path / "back.npz"),
                      "--split", "val")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("error: ") and "can execute arbitrary code" in refused.stderr
    assert "--allow-pickle" in refused.stderr and not (tmp_path / "back.npz").exists()

    done = run_cli("convert", "--to", "npz", str(tmp_path / "val.pkl"), str(tmp_path / "back.npz"),
                   "--split", "val", "--allow-pickle", "--json")
    assert done.returncode == 0, done.stderr
    back = read_table(tmp_path / "back.npz", kind="frames")
    np.testing.assert_array_equal(back.videos, ["a", "b_left"])
    assert back.columns["embedding"].dtype == np.float16 and back.meta["split"] == "val"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back.npz", "val.npz", "val.pkl"]


def test_failed_pkl_write_leaves_nothing(tmp_path, monkeypatch):
    def broken_dump(obj, fh, protocol=None):
        fh.write(b"half of a pickle")
        raise OSError("disk full")

    monkeypatch.setattr("abaw.pkl.pickle.dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        write_pkl(tmp_path / "val.pkl", table())
    assert list(tmp_path.iterdir()) == []
