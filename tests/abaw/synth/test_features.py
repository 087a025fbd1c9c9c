import numpy as np
import pytest

from abaw.errors import AbawError
from abaw.npzfile import load_npz
from abaw.synth.features import check_dim, feature_cache, write_features
from abaw.synth.plan import Recording
from abaw.synth.trajectories import person_tracks

REC = Recording(stem="video5", split="val", fps=30.0, name_fps=None, frames=2000, persons=1, container="",
                width=640, height=480)


def test_one_row_per_frame_with_a_face_carrying_the_labels(tmp_path):
    track = person_tracks(0, REC, speech=False)[0]
    path = write_features(tmp_path, "val", REC.stem, track, 8, seed=0)
    assert path == tmp_path / "features" / "val" / "video5.npz"
    cache = load_npz(path, "rerun synth")
    assert cache["frames"].dtype == np.int32 and cache["features"].dtype == np.float32
    assert cache["features"].shape == (track.face.sum(), 8)
    assert np.array_equal(cache["frames"], np.flatnonzero(track.face) + 1)
    truth = np.stack([track.valence, track.arousal], axis=1)[track.face]
    design = np.column_stack([cache["features"], np.ones(len(truth))])
    fit = design @ np.linalg.lstsq(design, truth, rcond=None)[0]
    assert np.corrcoef(fit[:, 0], truth[:, 0])[0, 1] > 0.5  # informative, not pure noise
    assert np.array_equal(feature_cache(0, REC.stem, track, 8)["features"], cache["features"])


@pytest.mark.parametrize("dim", [0, -3, 5000])
def test_bad_sizes_are_refused(dim):
    with pytest.raises(AbawError, match="--features"):
        check_dim(dim)
