"""Named sizes of the synthetic dataset: `tiny` for tests, `demo` for `make demo`, `scale` for benchmarks."""

from __future__ import annotations

from dataclasses import dataclass

from abaw.errors import AbawError

SPLITS = ("train", "val", "test")
FPS_CHOICES = (15.0, 24.0, 25.0, 30000 / 1001, 30.0)


@dataclass(frozen=True)
class Preset:
    """How much to generate. Counts are annotation videos per split (train, val, test); each two-person
    recording gives two of them (`<stem>_left`, `<stem>_right`) from one video file."""

    name: str
    videos: tuple[int, int, int]
    pairs: tuple[int, int, int]
    media: bool
    seconds: tuple[float, float] = (10.0, 20.0)  # duration range of one recording (media presets)
    frames: tuple[int, int, int] | None = None  # exact frame totals per split (label-only presets)
    avi_every: int = 6  # every n-th recording is an .avi, the rest .mp4

    def __post_init__(self) -> None:
        for split, videos, pairs in zip(SPLITS, self.videos, self.pairs, strict=True):
            if videos < 1 or pairs < 0 or 2 * pairs > videos:
                raise AbawError(f"preset {self.name}: {split} needs at least one video and at most "
                                f"videos/2 pairs (got {videos} videos, {pairs} pairs)")
        if self.frames is None and not 1.0 < self.seconds[0] <= self.seconds[1]:
            raise AbawError(f"preset {self.name}: recordings must last more than 1 s (got {self.seconds})")
        if self.frames is not None and any(v == 2 * p for v, p in zip(self.videos, self.pairs, strict=True)):
            raise AbawError(f"preset {self.name}: exact frame totals need a one-person video in every split")

    def recordings(self, split: int) -> tuple[int, int]:
        """(one-person recordings, two-person recordings) of split index `split`."""
        pairs = self.pairs[split]
        return self.videos[split] - 2 * pairs, pairs


PRESETS = {
    "tiny": Preset("tiny", videos=(6, 3, 3), pairs=(1, 1, 1), media=True, seconds=(10.0, 13.3)),
    "demo": Preset("demo", videos=(36, 12, 12), pairs=(4, 1, 1), media=True, seconds=(28.0, 40.0)),
    # Aff-Wild2 sizes: 594 annotation videos, 1,682,057 / 383,814 / 927,210 frames.
    "scale": Preset("scale", videos=(356, 76, 162), pairs=(8, 2, 4), media=False,
                    frames=(1_682_057, 383_814, 927_210)),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise AbawError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
