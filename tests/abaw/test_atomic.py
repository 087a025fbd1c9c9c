import os

import numpy as np
import pytest

from abaw.atomic import atomic_path, save_npz, write_text
from abaw.errors import AbawError


def test_failed_write_leaves_nothing_behind(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_write_replaces_only_on_success(tmp_path):
    target = write_text(tmp_path / "a" / "out.txt", "one")
    write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_object_arrays_are_refused(tmp_path):
    with pytest.raises(AbawError, match="dtype object"):
        save_npz(tmp_path / "t.npz", {"bad": np.array([{"a": 1}], dtype=object)})
    assert not (tmp_path / "t.npz").exists()


def test_outputs_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_text(tmp_path / "out.txt", "x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_unwritable_targets_are_user_errors_and_leave_nothing(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(AbawError, match=r"folder: cannot write here, it is a folder"):
        write_text(tmp_path / "folder", "x")
    assert list((tmp_path / "folder").iterdir()) == [] and len(list(tmp_path.iterdir())) == 1
    (tmp_path / "file").write_text("")
    with pytest.raises(AbawError, match=r"file/out\.txt: cannot write here; .*file is not a writable folder"):
        write_text(tmp_path / "file" / "out.txt", "x")
