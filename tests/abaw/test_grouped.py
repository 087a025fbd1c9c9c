import numpy as np
import pytest

from abaw.affwild import SplitIndex
from abaw.errors import AbawError
from abaw.grouped import positions_in
from abaw.tables import frames_table, make_meta


def split() -> SplitIndex:
    return SplitIndex(videos=np.array(["a", "b", "c"]), offsets=np.array([0, 2, 2, 5]),
                      frames=np.array([1, 2, 1, 2, 3], np.int32), labels=np.zeros((5, 2), np.float32))


def test_rows_lengths_and_row_owners():
    index = split()
    assert index.rows("c") == slice(2, 5) and index.rows("b") == slice(2, 2)
    assert index.lengths().tolist() == [2, 0, 3]
    assert index.video_of_row().tolist() == [0, 0, 2, 2, 2]


def test_unknown_video_names_the_collection():
    with pytest.raises(AbawError, match=r"'z' is not in this split \(3 videos\)"):
        split().position("z")
    table = frames_table(np.array(["a"]), np.array([0, 1]), frame=np.array([1]),
                         meta=make_meta("frames", "val", "visual", "test"))
    with pytest.raises(AbawError, match="not in this frames table"):
        table.rows("z")


def test_positions_in_finds_each_name_or_minus_one():
    known = np.array(["b", "a", "c"])
    assert positions_in(known, np.array(["c", "z", "b", "b"])).tolist() == [2, -1, 0, 0]
    assert positions_in(np.array([], str), np.array(["a"])).tolist() == [-1]
