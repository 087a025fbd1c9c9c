"""Annotation files, the test template and other CSV text, formatted without a Python loop over rows.

Every cell comes from a small vocabulary (label values to three decimals, 5-digit frame numbers, ...);
rows are assembled by one gather over a byte buffer, which writes millions of rows in about a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from abaw.atomic import atomic_path
from abaw.synth.plan import MAX_FRAMES

ANNOTATION_HEADER = "valence,arousal"
TEMPLATE_HEADER = "image_location,valence,arousal"
MISSING = "-5"


class Words:
    """A vocabulary packed in one byte buffer: word i is buffer[starts[i]:starts[i] + lengths[i]]."""

    def __init__(self, words: Sequence[str]) -> None:
        encoded = [word.encode("utf-8") for word in words]
        self.lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))
        self.starts = np.cumsum(self.lengths) - self.lengths
        self.buffer = np.frombuffer(b"".join(encoded), np.uint8)


def rows_text(pattern: Sequence[str | tuple[Words, np.ndarray]], n: int) -> bytes:
    """n rows, each the concatenation of the pattern's parts: a literal string, or (words, index [n]) for
    a cell that takes word index[i] in row i."""
    parts = [(Words([p]), np.zeros(n, np.int64)) if isinstance(p, str) else p for p in pattern]
    base = np.cumsum([0] + [words.buffer.size for words, _ in parts])
    buffer = np.concatenate([words.buffer for words, _ in parts])
    starts = np.stack([base[k] + words.starts[index] for k, (words, index) in enumerate(parts)], axis=1)
    lengths = np.stack([words.lengths[index] for words, index in parts], axis=1)
    return gather(buffer, starts.ravel(), lengths.ravel()).tobytes()


def gather(buffer: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenate the spans buffer[starts[k]:starts[k] + lengths[k]] in order."""
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if len(ends) else 0
    return buffer[np.arange(total) + np.repeat(starts - (ends - lengths), lengths)]


@lru_cache(maxsize=1)
def value_words() -> Words:
    """'-1', '-0.999', ..., '0', ..., '1' (index = round(1000 * value) + 1000), then '-5' at index 2001."""
    words = [f"{q / 1000:.3f}".rstrip("0").rstrip(".") for q in range(-1000, 1001)]
    return Words([*words, MISSING])


@lru_cache(maxsize=1)
def frame_words() -> Words:
    """'00000' ... '99999' (index = frame number)."""
    return Words([f"{i:05d}" for i in range(MAX_FRAMES + 1)])


@lru_cache(maxsize=1)
def count_words() -> Words:
    """'0' ... '99999' (index = number)."""
    return Words([str(i) for i in range(MAX_FRAMES + 1)])


def value_index(values: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """Indices into `value_words` for values in [-1, 1]; unlabelled entries point at '-5'."""
    index = np.rint(np.clip(values, -1.0, 1.0) * 1000).astype(np.int64) + 1000
    return np.where(labelled, index, 2001)


def annotation_text(valence: np.ndarray, arousal: np.ndarray, labelled: np.ndarray) -> bytes:
    """An Aff-Wild2 annotation file: header, then `valence,arousal` per frame, -5 where unlabelled."""
    words = value_words()
    body = rows_text([(words, value_index(valence, labelled)), ",",
                      (words, value_index(arousal, labelled)), "\n"], len(valence))
    return f"{ANNOTATION_HEADER}\n".encode() + body


def write_annotation(path: Path, valence: np.ndarray, arousal: np.ndarray, labelled: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(annotation_text(valence, arousal, labelled))


def template_text(videos: Sequence[str], lengths: Sequence[int]) -> bytes:
    """The test template: one `<video>/<NNNNN>.jpg,0,0` row per frame, videos in the given order."""
    chunks = [f"{TEMPLATE_HEADER}\n".encode()]
    for video, n in zip(videos, lengths, strict=True):
        frames = np.arange(1, n + 1)
        chunks.append(rows_text([f"{video}/", (frame_words(), frames), ".jpg,0,0\n"], n))
    return b"".join(chunks)


def openmouth_text(frames: np.ndarray, area: np.ndarray, is_open: np.ndarray) -> bytes:
    """`openmouth/<video>.csv` as the original implementation wrote it (a pandas frame with its index):
    `,frame,surface_area_mouth,mouth_open`, frames as 5-digit 1-based numbers, area to one decimal."""
    tenths = np.rint(area * 10).astype(np.int64)
    n = len(frames)
    return b",frame,surface_area_mouth,mouth_open\n" + rows_text([
        (count_words(), np.arange(n)), ",", (frame_words(), frames), ",", (count_words(), tenths // 10), ".",
        (count_words(), tenths % 10), ",", (count_words(), is_open.astype(np.int64)), "\n"], n)
