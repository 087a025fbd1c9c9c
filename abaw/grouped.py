"""Rows grouped by video in CSR form: `videos` [V] and `offsets` [V+1], the rows of video i being
`offsets[i]:offsets[i+1]`. Split indexes, the test template and exchange tables all share this shape."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from abaw.errors import AbawError


class GroupedByVideo:
    """Lookups over `self.videos` and `self.offsets`; `where` names the collection in error messages."""

    videos: np.ndarray
    offsets: np.ndarray

    @property
    def where(self) -> str:
        return "this collection"

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {str(video): i for i, video in enumerate(self.videos)}

    def position(self, video: str) -> int:
        """Index of `video` in `videos`."""
        try:
            return self._positions[video]
        except KeyError:
            raise AbawError(f"video {video!r} is not in {self.where} ({len(self.videos)} videos)") from None

    def rows(self, video: str) -> slice:
        """The rows of `video`."""
        i = self.position(video)
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def lengths(self) -> np.ndarray:
        """Rows per video, int64 [V]."""
        return np.diff(np.asarray(self.offsets, dtype=np.int64))

    def video_of_row(self) -> np.ndarray:
        """int64 [N]: the position in `videos` of each row's video."""
        return np.repeat(np.arange(len(self.videos), dtype=np.int64), self.lengths())


def positions_in(known: np.ndarray, names: np.ndarray) -> np.ndarray:
    """int64: the position of each of `names` in `known` (video ids), -1 where absent; vectorised."""
    names = np.asarray(names)
    if len(known) == 0:
        return np.full(names.shape, -1, dtype=np.int64)
    order = np.argsort(known)
    at = np.minimum(np.searchsorted(known[order], names), len(known) - 1)
    return np.where(known[order][at] == names, order[at], -1).astype(np.int64)
