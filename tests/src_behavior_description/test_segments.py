import numpy as np
import pandas as pd
import pytest

from abaw.affwild import find_video_file, index_split, probe_video
from abaw.clips import plan_clips
from abaw.errors import AbawError
from abaw.tables import read_table
from abaw.timing import write_timing
from src_behavior_description.segments import plan_split, write_segments


def test_clips_follow_the_rule_on_each_streams_base_video(make_cfg):
    cfg = make_cfg()
    for split in ("train", "val", "test"):
        sp = plan_split(cfg.data, cfg.clips, split)
        for i, stream in enumerate(sp.streams):
            info = probe_video(find_video_file(cfg.data.videos, str(stream)))
            want = plan_clips([info.frames], [info.fps], cfg.clips)
            rows = sp.plan.rows(str(stream))
            assert sp.plan.start[rows].tolist() == want.start.tolist()
            assert sp.plan.stop[rows].tolist() == want.stop.tolist()
            assert (sp.fps[i], sp.frames[i]) == (info.fps, info.frames)


def test_left_and_right_streams_share_their_base_videos_clips(make_cfg):
    cfg = make_cfg()
    sp = plan_split(cfg.data, cfg.clips, "train")
    left = [s for s in sp.streams.tolist() if s.endswith("_left")]
    assert left, "the tiny preset has a two-person recording in train"
    right = left[0].replace("_left", "_right")
    assert sp.bases[sp.plan.position(left[0])] == left[0].removesuffix("_left")
    assert np.array_equal(sp.plan.start[sp.plan.rows(left[0])], sp.plan.start[sp.plan.rows(right)])
    labels_left, labels_right = sp.labels[sp.plan.rows(left[0])], sp.labels[sp.plan.rows(right)]
    assert not np.array_equal(labels_left, labels_right, equal_nan=True)  # two persons, two label tracks


def test_labels_are_the_mean_of_the_labelled_frames_of_each_clip(make_cfg):
    cfg = make_cfg()
    sp = plan_split(cfg.data, cfg.clips, "val")
    index = index_split(cfg.data.annotations, "val")
    for stream in sp.streams.tolist():
        values = index.labels[index.rows(stream)]
        for r in range(*sp.plan.rows(stream).indices(sp.plan.n_clips)):
            inside = values[sp.plan.start[r]:sp.plan.stop[r]]
            for c in range(2):
                finite = inside[:, c][np.isfinite(inside[:, c])]
                want = finite.mean(dtype=np.float64) if finite.size else np.nan
                np.testing.assert_allclose(sp.labels[r, c], want, rtol=1e-5, atol=1e-6)


def test_unlabelled_clip_is_nan_and_test_has_no_labels(make_cfg, tiny_dataset, tmp_path):
    cfg = make_cfg()
    assert np.isnan(plan_split(cfg.data, cfg.clips, "test").labels).all()
    # A stream whose first 150 frames are -5: its first clips have NaN labels, later ones do not.
    annotations = tmp_path / "ann"
    (annotations / "Validation_Set").mkdir(parents=True)
    n = 250
    lines = ["-5,-5"] * 150 + ["0.5,-0.25"] * (n - 150)
    (annotations / "Validation_Set" / "v.txt").write_text("valence,arousal\n" + "\n".join(lines) + "\n")
    from abaw.affwild import VideoInfo

    timing = write_timing(tmp_path / "timing.csv", {"v": VideoInfo(25.0, n)})
    data = cfg.data.__class__(annotations=annotations, videos=tmp_path, video_timing=timing)
    sp = plan_split(data, cfg.clips, "val")
    assert sp.plan.start.tolist() == [0, 50, 100, 150]
    assert np.isnan(sp.labels[0]).all() and np.isnan(sp.labels[1]).all()
    np.testing.assert_allclose(sp.labels[2:], [[0.5, -0.25]] * 2)


def test_annotation_longer_than_its_video_is_an_error(make_cfg, tmp_path):
    cfg = make_cfg()
    annotations = tmp_path / "ann"
    (annotations / "Train_Set").mkdir(parents=True)
    (annotations / "Train_Set" / "v_left.txt").write_text("valence,arousal\n" + "0.1,0.1\n" * 30)
    from abaw.affwild import VideoInfo

    timing = write_timing(tmp_path / "timing.csv", {"v": VideoInfo(25.0, 20)})
    data = cfg.data.__class__(annotations=annotations, videos=tmp_path, video_timing=timing)
    with pytest.raises(AbawError, match=r"v_left.txt: stream v_left has 30 annotated frames but its video v "
                                        r"has 20"):
        plan_split(data, cfg.clips, "train")


def test_written_table_and_readable_csv(make_cfg, tmp_path):
    cfg = make_cfg()
    sp = plan_split(cfg.data, cfg.clips, "val")
    npz, csv = write_segments(sp, tmp_path / "segments", "sha")
    table = read_table(npz, "segments")
    assert table.videos.tolist() == sp.streams.tolist()
    assert np.array_equal(table.columns["start"], sp.plan.start)
    np.testing.assert_array_equal(table.columns["label"], sp.labels)
    frame = pd.read_csv(csv)
    assert len(frame) == sp.plan.n_clips
    assert frame["stop"].tolist() == sp.plan.stop.tolist()
    assert frame.loc[0, "begin_s"] == 0.0 and frame.loc[0, "end_s"] == 4.0
