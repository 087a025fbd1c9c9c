import os

import pytest

from abaw.errors import AbawError
from abaw.manifest import (
    Entry,
    Manifest,
    append_entry,
    files_fingerprint,
    identity_fingerprint,
    manifest_path,
    parse_shard,
    read_manifest,
    shard_items,
)


def entry(item, frames=3):
    return Entry(item, "in", "id", info={"frames": frames})


def test_roundtrip_and_later_lines_win(tmp_path):
    path = manifest_path(tmp_path)
    append_entry(path, entry("a", 3))
    append_entry(path, entry("b", 5))
    append_entry(path, entry("a", 7))
    entries = read_manifest(tmp_path)
    assert entries["a"].info == {"frames": 7} and entries["b"].info == {"frames": 5}
    assert entries["a"].written > 0


def test_shard_manifests_are_separate_files_read_together(tmp_path):
    first, second = manifest_path(tmp_path, (0, 2)), manifest_path(tmp_path, (1, 2))
    assert first.name == "manifest-0of2.jsonl" and second.name == "manifest-1of2.jsonl"
    append_entry(first, entry("a"))
    append_entry(second, entry("b"))
    assert set(read_manifest(tmp_path)) == {"a", "b"}


def test_the_newest_line_wins_across_files(tmp_path):
    # Extracted whole first, then again in shards: the shard's line is newer, then whole again.
    append_entry(manifest_path(tmp_path), entry("a", 3))
    append_entry(manifest_path(tmp_path, (0, 2)), entry("a", 7))
    assert read_manifest(tmp_path)["a"].info["frames"] == 7
    append_entry(manifest_path(tmp_path), entry("a", 9))
    assert read_manifest(tmp_path)["a"].info["frames"] == 9


def test_names_keep_manifests_of_one_folder_apart(tmp_path):
    append_entry(manifest_path(tmp_path, name="describe"), entry("a"))
    append_entry(manifest_path(tmp_path, name="describe-audio"), entry("b"))
    assert set(read_manifest(tmp_path, "describe")) == {"a"}
    assert read_manifest(tmp_path) == {}


def test_torn_and_foreign_lines_are_skipped_and_the_next_append_starts_a_new_line(tmp_path, caplog):
    path = manifest_path(tmp_path)
    append_entry(path, entry("a"))
    with open(path, "a") as fh:
        fh.write('{"video": "old", "frames": 3}\n{"item": "b", "inp')  # an older format; then a crash
    append_entry(path, entry("c"))
    assert set(read_manifest(tmp_path)) == {"a", "c"}
    assert caplog.text.count("incomplete manifest line") == 2


def test_files_fingerprint_sees_renames_rewrites_and_touches_but_not_order(tmp_path):
    a, b = tmp_path / "00001.jpg", tmp_path / "00002.jpg"
    a.write_bytes(b"x" * 10)
    b.write_bytes(b"y" * 10)
    base = files_fingerprint([a, b])
    assert files_fingerprint([str(b), str(a)]) == base
    b.write_bytes(b"z" * 11)
    assert files_fingerprint([a, b]) != base
    resized = files_fingerprint([a, b])
    os.utime(a, ns=(10**18, 10**18))
    assert files_fingerprint([a, b]) != resized
    assert files_fingerprint([a, tmp_path / "gone.jpg"]) != files_fingerprint([a])


def test_identity_fingerprint_of_values_and_dataclasses():
    assert identity_fingerprint({"model": "m", "instruction": "x"}) == identity_fingerprint(
        {"instruction": "x", "model": "m"})
    assert identity_fingerprint({"model": "m"}) != identity_fingerprint({"model": "n"})
    assert identity_fingerprint(Entry("a", "b", "c")) == identity_fingerprint(Entry("a", "b", "c"))
    assert len(identity_fingerprint(1)) == 16


def test_manifest_reuses_only_matching_items_with_their_outputs(tmp_path):
    out = tmp_path / "a.wav"
    out.write_bytes(b"")
    manifest = Manifest(tmp_path, "model-1", (1, 2))
    manifest.record("a", "inputs-1", seconds=2.5)
    assert manifest.path.name == "manifest-1of2.jsonl"
    again = Manifest(tmp_path, "model-1")
    assert again.is_done("a", "inputs-1", [out]) and again.entry("a").info == {"seconds": 2.5}
    assert not again.is_done("a", "inputs-2", [out])  # the video changed
    assert not again.is_done("b", "inputs-1")  # never finished
    assert not Manifest(tmp_path, "model-2").is_done("a", "inputs-1")  # another model
    out.unlink()
    assert not again.is_done("a", "inputs-1", [out])  # output deleted


def test_shards():
    assert parse_shard(" 1 / 4 ") == (1, 4)
    assert shard_items(list("abcdefg"), (1, 3)) == ["b", "e"]
    assert sorted(sum((shard_items(list("abcdefg"), (i, 3)) for i in range(3)), [])) == list("abcdefg")


@pytest.mark.parametrize("text", ["2/2", "1", "a/b", "-1/2", "0/0"])
def test_bad_shards(text):
    with pytest.raises(AbawError, match="--shard"):
        parse_shard(text)
