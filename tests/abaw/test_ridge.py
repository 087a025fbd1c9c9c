import numpy as np

from abaw.ridge import cross_validated_penalty


def noisy_linear(seed, n=600, noise_dims=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(0, 0.3, (n, 2))
    x = y @ rng.normal(size=(2, 4)) + 0.3 * rng.normal(size=(n, 4))
    return np.concatenate([x, rng.normal(size=(n, noise_dims))], axis=1), y, np.repeat(np.arange(n // 20), 20)


def test_many_noise_dimensions_call_for_a_larger_penalty():
    clean, y, videos = noisy_linear(0)
    few, few_scores = cross_validated_penalty(clean, y, videos)
    noisy, y, videos = noisy_linear(0, noise_dims=400)
    many, _ = cross_validated_penalty(noisy, y, videos)
    assert many > few and few_scores[few] > 0.8


def test_one_group_is_cut_into_blocks_and_groups_are_held_out_whole():
    x, y, _ = noisy_linear(1)
    penalty, scores = cross_validated_penalty(x, y, np.zeros(len(x)))
    assert scores[penalty] > 0.7
    # A target that is a per-video constant unrelated to the features cannot be predicted for unseen videos.
    _, _, videos = noisy_linear(1)
    per_video = np.random.default_rng(2).normal(size=(videos.max() + 1, 2))[videos]
    tagged = np.concatenate([x, np.eye(videos.max() + 1)[videos]], axis=1)
    assert max(cross_validated_penalty(tagged, per_video, videos)[1].values()) < 0.3
