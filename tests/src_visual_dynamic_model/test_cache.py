import numpy as np
import pytest

from abaw.errors import AbawError
from src_visual_dynamic_model import cache


def test_cache_roundtrip_and_dtype(tmp_path):
    path = cache.cache_path(tmp_path, "train", "v")
    cache.write_cache(path, np.array([1, 4, 9]), np.ones((3, 2), np.float32), "float16")
    frames, features = cache.read_cache(path, "v")
    assert frames.dtype == np.int32 and features.dtype == np.float16 and features.shape == (3, 2)


def test_bad_caches(tmp_path):
    with pytest.raises(AbawError, match="no feature cache for video 'x'"):
        cache.read_cache(tmp_path / "x.npz", "x")
    bad = tmp_path / "bad.npz"
    np.savez(bad, frames=np.array([1, 2], np.int32), features=np.zeros((3, 2)))
    with pytest.raises(AbawError, match="must be"):
        cache.read_cache(bad, "bad")
    np.savez(bad, frames=np.array([2, 1], np.int32), features=np.zeros((2, 2)))
    with pytest.raises(AbawError, match="strictly increasing"):
        cache.read_cache(bad, "bad")
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(AbawError, match=r"bad\.npz: damaged or incomplete \(.*\); rerun .*main\.py extract"):
        cache.read_cache(bad, "bad")
