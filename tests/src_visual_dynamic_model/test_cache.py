import numpy as np
import pytest

from abaw.errors import AbawError
from src_visual_dynamic_model import cache


def entry(video, frames=3):
    return cache.Entry(video, frames, frames, "tiny:seed=0:dim=0", 4, "abc")


def test_manifest_roundtrip_and_later_lines_win(tmp_path):
    path = cache.manifest_path(tmp_path, "train")
    cache.append_manifest(path, entry("a", 3))
    cache.append_manifest(path, entry("b", 5))
    cache.append_manifest(path, entry("a", 7))
    entries = cache.read_manifest(path.parent)
    assert entries["a"].frames == 7 and entries["b"].frames == 5


def test_shard_manifests_are_separate_files_read_together(tmp_path):
    first = cache.manifest_path(tmp_path, "val", (0, 2))
    second = cache.manifest_path(tmp_path, "val", (1, 2))
    assert first.name == "manifest-0of2.jsonl" and second.name == "manifest-1of2.jsonl"
    cache.append_manifest(first, entry("a"))
    cache.append_manifest(second, entry("b"))
    assert set(cache.read_manifest(first.parent)) == {"a", "b"}


def test_the_newest_line_wins_across_manifest_files(tmp_path):
    # Extracted whole first, then again in shards (say with another backbone): the shard's line is newer.
    cache.append_manifest(cache.manifest_path(tmp_path, "val"), entry("a", 3))
    cache.append_manifest(cache.manifest_path(tmp_path, "val", (0, 2)), entry("a", 7))
    assert cache.read_manifest(tmp_path / "val")["a"].frames == 7
    cache.append_manifest(cache.manifest_path(tmp_path, "val"), entry("a", 9))
    assert cache.read_manifest(tmp_path / "val")["a"].frames == 9


def test_torn_line_is_skipped_and_the_next_append_starts_a_new_line(tmp_path, caplog):
    path = cache.manifest_path(tmp_path, "train")
    cache.append_manifest(path, entry("a"))
    with open(path, "a") as fh:
        fh.write('{"video": "b", "fra')  # the process died here
    cache.append_manifest(path, entry("c"))
    entries = cache.read_manifest(path.parent)
    assert set(entries) == {"a", "c"}
    assert "incomplete manifest line" in caplog.text


def test_cache_roundtrip_and_dtype(tmp_path):
    path = cache.cache_path(tmp_path, "train", "v")
    cache.write_cache(path, np.array([1, 4, 9]), np.ones((3, 2), np.float32), "float16")
    frames, features = cache.read_cache(path, "v")
    assert frames.dtype == np.int32 and features.dtype == np.float16 and features.shape == (3, 2)
    assert cache.cached_frames(path).tolist() == [1, 4, 9]
    assert cache.cached_frames(tmp_path / "none.npz") is None


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
    bad.write_bytes(b"truncated")
    with pytest.raises(AbawError, match="unreadable feature cache"):
        cache.read_cache(bad, "bad")
