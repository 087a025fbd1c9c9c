"""The manifest of a long extraction: which items are finished, from which inputs, with which config.

An extraction turns items (videos) into outputs (a feature cache, a description, a WAV) one at a time
and may be killed at any point, split over machines with `--shard I/N`, or rerun after the inputs or
the config changed. The manifest makes all of that safe with one rule: an item is finished only when
its manifest line matches the current inputs fingerprint and identity and its outputs exist. Anything
else (no line, a torn line, other inputs, another config or model, a missing output) is redone.

Files: `<folder>/<name>.jsonl` for an unsharded run, `<folder>/<name>-<I>of<N>.jsonl` for shard I of N,
so concurrent shards never write to one file. Reading takes every `<name>*.jsonl` of the folder
together; for an item with several lines the most recently written wins (within one file, the later
line), so an extraction redone in shards, or redone whole after shards, is read correctly.
One JSON object per line:

    {"item": "video_12", "inputs": "<sha>", "identity": "<sha>", "written": 1767168000.5, "info": {...}}

Each line is appended with one write and fsync after the item's outputs were written atomically; a
line torn by a crash is skipped with a warning and its item is redone.

Use from a stage (one item = one video):

    shard = parse_shard(args.shard)                                    # "--shard 1/4" -> (1, 4)
    identity = identity_fingerprint({"model": cfg.model, "instruction": cfg.instruction})
    manifest = Manifest(out_dir / split, identity, shard)
    for video in shard_items(videos, shard):
        inputs = files_fingerprint([video_path(video)])               # or every crop of the video
        output = out_dir / split / f"{video}.wav"
        if manifest.is_done(video, inputs, [output]):
            continue                                                   # reused
        ...write `output` atomically...
        manifest.record(video, inputs, seconds=12.5)                   # info: anything JSON

`manifest.entries` maps item -> `Entry` (all shards) for readers that check what they consume,
e.g. training refusing caches of another backbone via `entry.identity`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from abaw.errors import AbawError

log = logging.getLogger("abaw.manifest")

Shard = tuple[int, int]
T = TypeVar("T")

# The fingerprints are truncated sha256 hex digests; 16 digits make accidental collisions irrelevant.
DIGITS = 16


@dataclasses.dataclass(frozen=True)
class Entry:
    """One manifest line: `item` was finished from inputs `inputs` under config/model `identity`.

    `written` (seconds since the epoch) orders lines of different files; `info` holds what the stage
    wants to remember about the output (row counts, dimensions, durations), JSON values only.
    """

    item: str
    inputs: str
    identity: str
    written: float = 0.0
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


def parse_shard(text: str) -> Shard:
    """`I/N` (0-based I) -> (I, N); the value of every `--shard` option."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match or not 0 <= int(match[1]) < int(match[2]):
        raise AbawError(f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. 0/4")
    return int(match[1]), int(match[2])


def shard_items(items: Sequence[T], shard: Shard) -> list[T]:
    """The items of shard I of N: every N-th item starting at I, so shards are disjoint and balanced."""
    index, count = shard
    return list(items[index::count])


def manifest_path(folder: str | os.PathLike, shard: Shard = (0, 1), name: str = "manifest") -> Path:
    """The file that shard `shard` appends to."""
    index, count = shard
    return Path(folder) / (f"{name}.jsonl" if count == 1 else f"{name}-{index}of{count}.jsonl")


def files_fingerprint(paths: Iterable[str | os.PathLike]) -> str:
    """A fingerprint of files from their names, sizes and modification times (no content is read).

    It changes when a file is added, removed, renamed, rewritten or touched; a missing file counts as
    missing rather than failing, so a vanished input also reads as a change. Order does not matter.
    """
    digest = hashlib.sha256()
    for path in sorted(map(os.fspath, paths)):
        try:
            stat = os.stat(path)
            record = f"{os.path.basename(path)}\t{stat.st_size}\t{stat.st_mtime_ns}\n"
        except OSError:
            record = f"{os.path.basename(path)}\tmissing\n"
        digest.update(record.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:DIGITS]


def identity_fingerprint(value: Any) -> str:
    """A fingerprint of what makes outputs differ besides the inputs: a config section, a model name and
    instruction, a sample rate. Any JSON-able value; dataclasses and paths are converted."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:DIGITS]


def read_manifest(folder: str | os.PathLike, name: str = "manifest") -> dict[str, Entry]:
    """item -> newest `Entry` over every manifest file (all shards) of `folder`; {} when there is none.

    A torn or foreign line (a crash while appending, an older format) is skipped with a warning: its
    item simply counts as not finished.
    """
    entries: dict[str, Entry] = {}
    pattern = re.compile(re.escape(name) + r"(-\d+of\d+)?\.jsonl")
    files = sorted(p for p in Path(folder).glob(f"{name}*.jsonl") if pattern.fullmatch(p.name))
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = Entry(**json.loads(line))
                if not isinstance(entry.item, str) or not isinstance(entry.info, dict):
                    raise TypeError(entry)
            except (ValueError, TypeError):
                log.warning("%s:%d: incomplete manifest line ignored (an interrupted run); "
                            "its item is redone", path, number)
                continue
            known = entries.get(entry.item)
            if known is None or entry.written >= known.written:
                entries[entry.item] = entry
    return entries


def append_entry(path: str | os.PathLike, entry: Entry) -> Entry:
    """Append `entry`, stamped with the current time, as one line; returns the stamped entry.

    One write followed by fsync: a crash leaves at most one torn last line, which the next append
    terminates so that it cannot swallow the new line.
    """
    entry = dataclasses.replace(entry, written=time.time())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        torn = False
        if fh.seek(0, os.SEEK_END) > 0:
            fh.seek(-1, os.SEEK_END)
            torn = fh.read(1) != b"\n"
        fh.write((("\n" if torn else "") + entry.to_json() + "\n").encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())
    return entry


class Manifest:
    """The manifest of one output folder as seen by one shard of one extraction run.

    `identity` is the fingerprint of this run's config/model (`identity_fingerprint`); lines written
    under another identity never count as finished. `entries` holds every shard's newest lines, read
    once at construction and updated by `record`.
    """

    def __init__(self, folder: str | os.PathLike, identity: str, shard: Shard = (0, 1),
                 name: str = "manifest") -> None:
        self.folder, self.identity, self.shard = Path(folder), identity, shard
        self.path = manifest_path(self.folder, shard, name)
        self.entries = read_manifest(self.folder, name)

    def entry(self, item: str) -> Entry | None:
        """The newest line of `item`, whatever its inputs and identity."""
        return self.entries.get(item)

    def is_done(self, item: str, inputs: str, outputs: Iterable[str | os.PathLike] = ()) -> bool:
        """True when `item` was finished from these inputs under this identity and its outputs exist."""
        entry = self.entries.get(item)
        return (entry is not None and entry.identity == self.identity and entry.inputs == inputs
                and all(Path(p).is_file() for p in outputs))

    def record(self, item: str, inputs: str, **info: Any) -> Entry:
        """Mark `item` finished; call it after the item's outputs were written atomically.
        `info` (JSON values) is kept in the line."""
        entry = append_entry(self.path, Entry(item, inputs, self.identity, info=info))
        self.entries[item] = entry
        return entry
