import pytest

from abaw.errors import AbawError
from abaw.synth.presets import PRESETS, Preset, get_preset


def test_scale_has_the_sizes_of_aff_wild2():
    scale = get_preset("scale")
    assert scale.videos == (356, 76, 162) and sum(scale.videos) == 594
    assert scale.frames == (1_682_057, 383_814, 927_210)
    assert not scale.media


def test_media_presets_have_pairs_in_every_split():
    for name in ("tiny", "demo"):
        preset = PRESETS[name]
        assert preset.media and all(p >= 1 for p in preset.pairs)


def test_recordings_count_pairs_once():
    assert Preset("x", videos=(6, 3, 3), pairs=(1, 1, 0), media=True).recordings(0) == (4, 1)


def test_unknown_preset_names_the_choices():
    with pytest.raises(AbawError, match="tiny, demo, scale"):
        get_preset("huge")


@pytest.mark.parametrize("kwargs, message", [
    ({"videos": (2, 1, 1), "pairs": (2, 0, 0), "media": True}, "at most videos/2 pairs"),
    ({"videos": (0, 1, 1), "pairs": (0, 0, 0), "media": True}, "at least one video"),
    ({"videos": (2, 1, 1), "pairs": (1, 0, 0), "media": False, "frames": (10, 10, 10)}, "one-person video"),
    ({"videos": (2, 1, 1), "pairs": (0, 0, 0), "media": True, "seconds": (0.5, 2.0)}, "more than 1 s"),
])
def test_impossible_presets_are_refused(kwargs, message):
    with pytest.raises(AbawError, match=message):
        Preset("bad", **kwargs)
