import numpy as np

from abaw.synth.plan import Recording, rng
from abaw.synth.trajectories import (
    envelope,
    person_tracks,
    runs_mask,
    smooth_noise,
    speaking,
    speech_turns,
    syllables,
    va_curves,
)

PAIR = Recording(stem="9-25-480x240", split="train", fps=25.0, name_fps=25, frames=1500, persons=2,
                 container="mp4", width=480, height=240)


def runs(mask: np.ndarray) -> list[int]:
    """Lengths of the runs of False."""
    edges = np.diff(np.concatenate([[0], (~mask).astype(int), [0]]))
    return list(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))


def test_smooth_noise_has_unit_variance_and_no_jumps():
    x = smooth_noise(rng(0, "n"), 200_000, 50.0, 2)
    assert x.shape == (2, 200_000)
    assert np.allclose(x.std(axis=1), 1.0, atol=0.05)
    assert np.abs(np.diff(x, axis=1)).max() < 0.2


def test_va_curves_are_bounded_and_smooth_but_move():
    va = va_curves(rng(0, "va"), 3000, 30.0)
    assert va.shape == (2, 3000) and np.abs(va).max() < 1
    assert np.abs(np.diff(va, axis=1)).max() < 0.05  # no frame-to-frame jumps
    assert (va.max(axis=1) - va.min(axis=1) > 0.3).all()  # slow drifts and episodes


def test_runs_mask_makes_a_few_runs_of_the_requested_length():
    for seed in range(10):
        mask = runs_mask(rng(seed, "m"), 1000, 25.0, (2, 3), (0.4, 0.4))  # two runs of 10 frames
        assert 1 <= len(runs(mask)) <= 2 and 10 <= (~mask).sum() <= 20 or mask[-10:].sum() < 10


def test_speech_bursts_last_half_a_second_to_four_seconds():
    for persons, seed in [(1, 0), (1, 1), (2, 0), (2, 1), (2, 2), (2, 3)]:
        bursts = speech_turns(rng(seed, "s"), 120.0, persons)
        assert len(bursts) == persons
        for b in bursts:
            lengths = b[:, 1] - b[:, 0]
            assert len(b) > 5 and lengths.min() >= 0.5 and lengths.max() <= 4.0
            assert (b[1:, 0] >= b[:-1, 1]).all() and b.max() <= 120.0


def test_two_persons_mostly_take_turns():
    left, right = speech_turns(rng(0, "turns"), 300.0, 2)
    t = np.arange(0, 300, 0.01)
    both = speaking(left, t) & speaking(right, t)
    assert speaking(left, t).mean() > 0.15 and speaking(right, t).mean() > 0.15
    assert both.mean() < 0.1


def test_syllables_fill_the_bursts_and_the_envelope_gates_them():
    bursts = np.array([[1.0, 2.5], [4.0, 4.8]])
    syl = syllables(rng(0, "syl"), bursts)
    inside = speaking(bursts, syl.mean(axis=1))
    assert inside.all() and (syl[:, 1] > syl[:, 0]).all()
    t = np.linspace(0, 6, 6001)
    env = envelope(syl, t)
    assert env.min() >= 0 and env.max() <= 1 and env.max() > 0.95
    assert (env[~speaking(bursts, t)] == 0).all()
    assert envelope(np.zeros((0, 2)), t).sum() == 0


def test_person_tracks_are_deterministic_quantised_and_per_person():
    a, b = person_tracks(0, PAIR, speech=True), person_tracks(0, PAIR, speech=True)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.valence, y.valence) and np.array_equal(x.bursts, y.bursts)
    left, right = a
    assert not np.array_equal(left.valence, right.valence)
    thousandths = left.valence.astype(np.float64) * 1000
    assert np.abs(thousandths - np.rint(thousandths)).max() < 1e-3  # three decimals, as in the files
    assert left.valence.dtype == np.float32 and len(left.valence) == PAIR.frames
    assert 1 <= len(runs(left.labelled)) <= 2 and 1 <= len(runs(left.face)) <= 2
    labels = left.labels()
    assert np.isnan(labels[~left.labelled]).all() and not np.isnan(labels[left.labelled]).any()


def test_label_only_tracks_skip_speech():
    tracks = person_tracks(0, PAIR, speech=False)
    assert all(len(t.bursts) == 0 and len(t.syllables) == 0 for t in tracks)
    assert np.array_equal(tracks[0].valence, person_tracks(0, PAIR, speech=True)[0].valence)
