"""Progress bars that suit where they are written: a live bar on a terminal, a line every N seconds elsewhere.

On a terminal tqdm redraws one line with carriage returns. Written to a file (CI logs, `nohup`, a pipe)
the same redraws pile up as one endless line of `\\r` runs, so there each update becomes a line of its
own, at most one every `ABAW_PROGRESS_SECONDS` seconds (default 30), plus the final state.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import IO, Any

from tqdm import tqdm

ENV_SECONDS = "ABAW_PROGRESS_SECONDS"
DEFAULT_SECONDS = 30.0


class LineWriter:
    """A stream for tqdm that writes each redraw as one line, without carriage returns and padding."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        line = text.replace("\r", "").strip()
        if line:
            self.stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def seconds_between_lines() -> float:
    raw = os.environ.get(ENV_SECONDS, "")
    try:
        return max(float(raw), 0.0) if raw else DEFAULT_SECONDS
    except ValueError:
        return DEFAULT_SECONDS


def progress(iterable: Iterable | None = None, *, file: IO[str] | None = None, **kwargs: Any) -> tqdm:
    """`tqdm(iterable, **kwargs)` on a terminal; on anything else, one line per update every N seconds."""
    stream = sys.stderr if file is None else file
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return tqdm(iterable, file=stream, **kwargs)
    seconds = seconds_between_lines()
    # A finished bar is printed once more on close, so a short loop still leaves its one summary line.
    kwargs.update(file=LineWriter(stream), mininterval=seconds, maxinterval=max(seconds, 10.0), ncols=100,
                  dynamic_ncols=False, leave=True)
    return tqdm(iterable, **kwargs)
