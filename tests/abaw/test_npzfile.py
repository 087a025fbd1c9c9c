import numpy as np
import pytest

from abaw.atomic import save_npz
from abaw.errors import AbawError
from abaw.npzfile import load_npz


@pytest.fixture
def archive(tmp_path):
    arrays = {"videos": np.array(["a", "b"]), "x": np.arange(5000, dtype=np.int32)}
    return save_npz(tmp_path / "t.npz", arrays)


def test_round_trip_and_selected_keys(archive):
    loaded = load_npz(archive, "rerun it")
    assert loaded["videos"].tolist() == ["a", "b"] and loaded["x"].dtype == np.int32
    assert list(load_npz(archive, "rerun it", keys=["x"])) == ["x"]
    with pytest.raises(AbawError, match=r"t\.npz: damaged or incomplete \(no 'y' array\); rerun it"):
        load_npz(archive, "rerun it", keys=["x", "y"])


def test_mapped_arrays_are_read_only_views_checked_like_copies(archive):
    loaded = load_npz(archive, "rerun it", mmap=True)
    assert loaded["videos"].tolist() == ["a", "b"] and not loaded["x"].flags.writeable
    np.testing.assert_array_equal(loaded["x"], np.arange(5000, dtype=np.int32))
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(AbawError, match=r"damaged or incomplete \(bad CRC-32"):
        load_npz(archive, "rerun", mmap=True)


@pytest.mark.parametrize("keep", [0, 3, 100, 0.5, -30, -1])
def test_truncated_files_are_one_user_error(archive, keep):
    data = archive.read_bytes()
    archive.write_bytes(data[:int(keep * len(data)) if isinstance(keep, float) else keep])
    with pytest.raises(AbawError, match=r"^.*t\.npz: damaged or incomplete \(.+\); run extract$"):
        load_npz(archive, "run extract")


def test_flipped_bytes_and_other_files(archive, tmp_path):
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(AbawError, match="damaged or incomplete"):
        load_npz(archive, "rerun")
    np.save(tmp_path / "one.npy", np.arange(3))
    with pytest.raises(AbawError, match=r"damaged or incomplete \(not an .npz archive\)"):
        load_npz(tmp_path / "one.npy", "rerun")


def test_object_arrays_and_missing_files_are_refused(tmp_path):
    np.savez(tmp_path / "p.npz", bad=np.array([{"a": 1}], dtype=object))
    with pytest.raises(AbawError, match="without pickle"):
        load_npz(tmp_path / "p.npz", "rerun")
    with pytest.raises(AbawError, match="file not found; rerun"):
        load_npz(tmp_path / "missing.npz", "rerun")
