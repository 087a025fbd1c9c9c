import numpy as np
import pytest
import torch

from src_visual_dynamic_model.data import SplitData
from src_visual_dynamic_model.inference import predict_split
from src_visual_dynamic_model.model import Architecture, build_model


def split(lengths, dim=4, seed=0):
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    n = int(offsets[-1])
    frames = np.concatenate([np.arange(1, k + 1) for k in lengths]).astype(np.int32)
    videos = np.array([f"v{i}" for i in range(len(lengths))])
    features = rng.normal(size=(n, dim)).astype(np.float32)
    return SplitData("val", videos, offsets, frames, np.zeros((n, 2), np.float32), features, np.ones(n, bool))


def model(dim=4):
    torch.manual_seed(0)
    return build_model(Architecture(input_dim=dim, hidden=8, layers=1, heads=2, ff_dim=16, head_dim=6)).eval()


def test_every_frame_gets_a_value_and_short_videos_match_a_direct_pass():
    data = split([5, 23, 1, 40])
    net = model()
    pred, emb = predict_split(net, data, window=8, hop=3, batch_size=4, embeddings=True)
    assert pred.shape == (69, 2) and emb.shape == (69, 6)
    assert np.isfinite(pred).all() and np.isfinite(emb).all()
    with torch.no_grad():
        direct, direct_emb = net(torch.from_numpy(data.features[:5])[None])
    np.testing.assert_allclose(pred[:5], direct[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(emb[:5], direct_emb[0].numpy(), atol=1e-5)


def test_overlapping_windows_are_averaged():
    data = split([10])
    net = model()
    pred, _ = predict_split(net, data, window=8, hop=2, batch_size=2)
    with torch.no_grad():
        first = net(torch.from_numpy(data.features[0:8])[None])[0][0].numpy()
        second = net(torch.from_numpy(data.features[2:10])[None])[0][0].numpy()
    np.testing.assert_allclose(pred[0:2], first[0:2], atol=1e-5)
    np.testing.assert_allclose(pred[2:8], (first[2:8] + second[0:6]) / 2, atol=1e-5)
    np.testing.assert_allclose(pred[8:], second[6:], atol=1e-5)


def test_results_do_not_depend_on_batch_size_or_grouping(monkeypatch):
    data = split([30, 7, 64, 12])
    net = model()
    a, _ = predict_split(net, data, window=16, hop=5, batch_size=3)
    monkeypatch.setattr("abaw.windowed.GROUP_WINDOWS", 2)
    b, _ = predict_split(net, data, window=16, hop=5, batch_size=64)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_time_delay_shifts_predictions_back():
    data = split([12, 9])
    net = model()
    plain, _ = predict_split(net, data, window=6, hop=2, batch_size=4)
    delayed, _ = predict_split(net, data, window=6, hop=2, batch_size=4, delay=3)
    np.testing.assert_allclose(delayed[3:12], plain[0:9])
    np.testing.assert_allclose(delayed[0:3], np.repeat(plain[0:1], 3, axis=0))
    np.testing.assert_allclose(delayed[15:21], plain[12:18])


def without_every_7th_frame(data):
    """The rows of `data` whose frame number is not a multiple of 7, as a split of their own, and the
    dense split whose skipped frames carry the features of the previous frame (the nearest kept one)."""
    keep = data.frames % 7 != 0
    sparse_offsets = np.concatenate([[0], np.cumsum(np.add.reduceat(keep, data.offsets[:-1]))])
    sparse = SplitData("test", data.videos, sparse_offsets.astype(np.int64), data.frames[keep],
                       data.labels[keep], data.features[keep], data.face[keep])
    features = data.features.copy()
    skipped = np.flatnonzero(~keep)
    features[skipped] = features[skipped - 1]
    dense = SplitData("test", data.videos, data.offsets, data.frames, data.labels, features, data.face)
    return sparse, dense, keep


@pytest.mark.parametrize("delay", [0, 4])
def test_windows_and_delay_count_frames_of_a_template_missing_every_7th_frame(delay):
    sparse, dense, keep = without_every_7th_frame(split([40, 23, 9]))
    net = model()
    got, _ = predict_split(net, sparse, window=8, hop=3, batch_size=4, delay=delay)
    want, _ = predict_split(net, dense, window=8, hop=3, batch_size=4, delay=delay)
    np.testing.assert_allclose(got, want[keep], atol=1e-5)


def test_a_window_longer_than_every_video_is_capped_exactly():
    data = split([30, 7, 12])
    net = model()
    huge, _ = predict_split(net, data, window=10 ** 12, hop=10 ** 11, batch_size=4)
    longest, _ = predict_split(net, data, window=30, hop=30, batch_size=4)
    np.testing.assert_allclose(huge, longest, atol=1e-5)
