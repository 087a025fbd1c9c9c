"""ABAW valence/arousal submissions: the flat file in template order, per-video TXT files, the validator.

The flat file is `image_location,valence,arousal`, one row per template frame in the template's order,
values clipped to [-1, 1] with six decimals. Text is assembled and parsed as byte matrices with numpy,
one byte column at a time and never one row at a time, so 927,210 rows are written or checked in a
fraction of a second.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from abaw.affwild import FRAME_DIGITS, Template, frame_keys, read_template
from abaw.atomic import atomic_path
from abaw.errors import AbawError

HEADER = "image_location,valence,arousal"
TXT_HEADER = "valence,arousal"
DECIMALS = 6
NO_LABEL = -5.0  # the annotations' marker for an unlabelled frame; never a prediction
SHOWN = 10  # offending lines quoted per problem; the count covers the rest
_MAX_VALUE_BYTES = 64  # a longer value field cannot be a number anyone meant to write
_MAX_KEY_BYTES = 1024
_NL, _CR, _COMMA = ord("\n"), ord("\r"), ord(",")


# ------------------------------------------------------------------------------------------------- writing


_TRIPLES = np.array([list(f"{i:03d}".encode()) for i in range(1000)], dtype=np.uint8)  # "000".."999"


def _format_values(values: np.ndarray) -> np.ndarray:
    """uint8 [M, 9]: values in [-1, 1] as `-0.123456`, the sign byte NUL (dropped later) when not negative."""
    scale = 10**DECIMALS
    units = np.rint(np.abs(values.astype(np.float64)) * scale).astype(np.int64)
    out = np.empty((len(units), DECIMALS + 3), dtype=np.uint8)
    out[:, 0] = np.where((values < 0) & (units > 0), ord("-"), 0)
    out[:, 1] = units // scale + ord("0")
    out[:, 2] = ord(".")
    fraction = units % scale
    out[:, 3:6] = _TRIPLES[fraction // 1000]
    out[:, 6:9] = _TRIPLES[fraction % 1000]
    return out


def _utf8_matrix(texts: np.ndarray) -> np.ndarray:
    """uint8 [N, W]: the UTF-8 bytes of each string, NUL-padded on the right."""
    texts = np.asarray(texts).astype(str)
    try:
        encoded = texts.astype(np.bytes_)
    except UnicodeEncodeError:  # the fast cast is ASCII-only
        encoded = np.char.encode(texts, "utf-8")
    return encoded.view(np.uint8).reshape(len(texts), encoded.dtype.itemsize)


def _key_matrix(
    videos: np.ndarray, video_idx: np.ndarray, frames: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [N, W] NUL-padded, int64 [N] lengths): each row's `image_location` as `frame_keys` spells it.

    Built from byte columns rather than a unicode array: several times faster at test-set scale.
    """
    video_idx = np.asarray(video_idx)
    table = _utf8_matrix(videos)
    names = table[video_idx]
    frames = np.asarray(frames, dtype=np.int64)
    n = len(frames)
    if n and frames.min() < 1:
        raise AbawError(f"frame numbers start at 1, got {int(frames.min())}")
    n_digits = np.full(n, FRAME_DIGITS, dtype=np.int64)  # zero-padded to 5, longer when larger
    for power in range(FRAME_DIGITS, len(str(int(frames.max(initial=1))))):
        n_digits += frames >= 10**power
    most = int(n_digits.max(initial=FRAME_DIGITS))
    slash = np.count_nonzero(table, axis=1)[video_idx]
    out = np.zeros((n, names.shape[1] + 1 + most + len(".jpg")), dtype=np.uint8)
    out[:, : names.shape[1]] = names
    rows = np.arange(n)
    out[rows, slash] = ord("/")
    rest = frames.copy()
    for place in range(most):  # last digit first
        column = slash + n_digits - place
        if place < FRAME_DIGITS:  # every row has these
            out[rows, column] = rest % 10 + ord("0")
        else:
            used = n_digits > place
            out[rows[used], column[used]] = rest[used] % 10 + ord("0")
        rest //= 10
    for k, char in enumerate(b".jpg"):
        out[rows, slash + n_digits + 1 + k] = char
    return out, slash + 1 + n_digits + len(".jpg")


def _row_matrix(columns: list[np.ndarray]) -> np.ndarray:
    """uint8 [N, W]: each row's columns joined by commas and ended by a newline, with NUL padding inside."""
    n = len(columns[0])
    parts = []
    for column in columns:
        parts += [column, np.full((n, 1), _COMMA, dtype=np.uint8)]
    parts[-1] = np.full((n, 1), _NL, dtype=np.uint8)
    return np.concatenate(parts, axis=1)


def _pack(rows: np.ndarray) -> bytes:
    """The text of a row matrix: its bytes in order with the NUL padding removed."""
    flat = rows.ravel()
    return flat[flat != 0].tobytes()


def _checked_predictions(
    predictions: np.ndarray, n: int, target: str | os.PathLike, name_rows: Callable[[np.ndarray], str]
) -> np.ndarray:
    """float64 [n, 2] clipped to [-1, 1]; NaN, inf and the -5 marker are refused, naming the first rows."""
    values = np.asarray(predictions, dtype=np.float64)
    if values.shape != (n, 2):
        raise AbawError(f"{target}: predictions have shape {list(values.shape)}, expected [{n}, 2] "
                        "(one valence,arousal pair per frame)")
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1) | (values == NO_LABEL).any(axis=1))
    if bad.size:
        raise AbawError(f"{target}: not written: {bad.size} rows have a NaN, inf or -5 prediction "
                        f"(first: {name_rows(bad[:5])}); predict every frame, e.g. fill gaps from the "
                        "nearest predicted frame, before writing")
    return np.clip(values, -1.0, 1.0)


def write_submission(path: str | os.PathLike, template: Template, predictions: np.ndarray) -> Path:
    """Write the flat submission: one row per template row, in its order, values clipped to [-1, 1].

    `predictions` is [N, 2] (valence, arousal) aligned with the template rows. Rows with NaN, inf or
    -5 are refused (AbawError naming the count and the first keys) and nothing is written.
    """
    path = Path(path)

    def name_rows(rows: np.ndarray) -> str:
        return ", ".join(frame_keys(template.videos, template.video_idx[rows], template.frames[rows]))

    values = _checked_predictions(predictions, len(template.frames), path, name_rows)
    keys, _ = _key_matrix(template.videos, template.video_idx, template.frames)
    rows = _row_matrix([keys, _format_values(values[:, 0]), _format_values(values[:, 1])])
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(HEADER.encode() + b"\n")
            fh.write(_pack(rows))
    return path


def write_video_txts(
    out_dir: str | os.PathLike, videos: np.ndarray, offsets: np.ndarray, predictions: np.ndarray
) -> Path:
    """Write `<out_dir>/<video>.txt` per video: header `valence,arousal`, then line k = frame k.

    Rows of video i are `offsets[i]:offsets[i+1]` of `predictions` [N, 2]; values are clipped to
    [-1, 1]; NaN, inf or -5 is refused before any file is written.
    """
    out_dir = Path(out_dir)
    videos = np.asarray(videos).reshape(-1)
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1)
    if len(offsets) != len(videos) + 1 or offsets[0] != 0 or (np.diff(offsets) < 0).any():
        raise AbawError(f"{out_dir}: offsets must hold {len(videos) + 1} non-decreasing row positions "
                        f"starting at 0 (one more than the {len(videos)} videos)")

    def name_rows(rows: np.ndarray) -> str:
        video = np.searchsorted(offsets, rows, side="right") - 1
        return ", ".join(f"{videos[v]} frame {r - offsets[v] + 1}" for v, r in zip(video, rows, strict=True))

    values = _checked_predictions(predictions, int(offsets[-1]), out_dir, name_rows)
    rows = _row_matrix([_format_values(values[:, 0]), _format_values(values[:, 1])])
    ends = np.concatenate([[0], np.cumsum(np.count_nonzero(rows, axis=1))])
    body = _pack(rows)
    header = TXT_HEADER.encode() + b"\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    for video, start, stop in zip(videos, ends[offsets[:-1]], ends[offsets[1:]], strict=True):
        with atomic_path(out_dir / f"{video}.txt") as tmp:
            tmp.write_bytes(header + body[start:stop])
    return out_dir


# ------------------------------------------------------------------------------------------------- reading


def _gather(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, width: int) -> np.ndarray:
    """uint8 [M, width]: bytes `buf[start:start+length]` of each field, NUL-padded; one pass per column."""
    out = np.zeros((len(starts), max(width, 1)), dtype=np.uint8)
    for col in range(width):
        column = buf.take(starts + col, mode="clip")
        column[lengths <= col] = 0
        out[:, col] = column
    return out


def _as_text(field_bytes: np.ndarray) -> np.ndarray:
    """Fixed-width bytes [M] as a unicode array (UTF-8, undecodable bytes replaced)."""
    try:
        return field_bytes.astype(np.str_)
    except UnicodeDecodeError:  # the fast cast is ASCII-only
        return np.char.decode(field_bytes, "utf-8", errors="replace")


def _parse_own_format(
    buf: np.ndarray, starts: np.ndarray, stops: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(float64 [M], bool [M] matched) for fields spelt as the writer spells them, `-?D.DDDDDD`.

    Digits are read straight from the bytes, with no text conversion; a value is the same double that
    `float()` gives, since an integer over a power of ten is one correctly rounded division.
    """
    negative = buf.take(starts, mode="clip") == ord("-")
    first = starts + negative
    matched = stops - first == DECIMALS + 2
    matched &= buf.take(first + 1, mode="clip") == ord(".")
    units = np.zeros(len(starts), dtype=np.int64)
    for k in (0, *range(2, DECIMALS + 2)):
        digit = buf.take(first + k, mode="clip").astype(np.int64) - ord("0")
        matched &= (digit >= 0) & (digit <= 9)
        units = units * 10 + digit
    return np.where(negative, -units, units) / 10**DECIMALS, matched


def _parse_numbers(buf: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(float64 [M], bool [M] parsed) for the text fields `buf[start:stop]`; unparsed values are NaN."""
    values, ok = _parse_own_format(buf, starts, stops)
    if not ok.all():
        rest = np.flatnonzero(~ok)
        values[rest], ok[rest] = _parse_any_numbers(buf, starts[rest], stops[rest])
    return values, ok


def _parse_any_numbers(
    buf: np.ndarray, starts: np.ndarray, stops: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`_parse_numbers` for numbers in any spelling Python accepts (1e-3, .5, +1, nan, ...)."""
    lengths = stops - starts
    ok = (lengths > 0) & (lengths <= _MAX_VALUE_BYTES)
    width = int(lengths[ok].max()) if ok.any() else 1
    text = _gather(buf, starts, np.where(ok, lengths, 0), width).view(f"S{max(width, 1)}").ravel()
    try:
        values = text.astype(np.float64)
    except ValueError:  # some field is not a number: find which, still without a per-row loop
        import pandas as pd  # only this rare path needs it

        words = np.char.strip(np.char.decode(text, "latin-1"))
        values = pd.to_numeric(pd.Series(words, dtype=object), errors="coerce")
        values = values.to_numpy(np.float64, copy=True)
        ok &= ~np.isnan(values) | np.isin(np.char.lower(words), ["nan", "+nan", "-nan"])
    values[~ok] = np.nan
    return values, ok


def _split_lines(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bytes, line starts, line stops) without line ends (LF or CRLF); trailing blank lines dropped."""
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return buf, empty, empty
    ends = np.flatnonzero(buf == _NL)
    if buf[-1] != _NL:
        ends = np.append(ends, buf.size)
    starts = np.concatenate([[0], ends[:-1] + 1])
    stops = ends.copy()
    crlf = (stops > starts) & (buf[np.maximum(stops - 1, 0)] == _CR)
    stops[crlf] -= 1
    filled = np.flatnonzero(stops > starts)
    keep = int(filled[-1]) + 1 if filled.size else 0
    return buf, starts[:keep], stops[:keep]


@dataclass
class _Rows:
    """The data rows of a flat CSV file as byte ranges into `buf` (no Python object per row)."""

    buf: np.ndarray
    line: np.ndarray  # int64 [M], 1-based line number in the file
    start: np.ndarray  # int64 [M], first byte of the row
    stop: np.ndarray  # int64 [M], end of the row (line end excluded)
    key_stop: np.ndarray  # int64 [M], end of the first field (first comma or end of row)
    n_fields: np.ndarray  # int64 [M]
    values: np.ndarray  # float64 [M, 2], NaN unless the row has 3 fields and the value parses
    parsed: np.ndarray  # bool [M, 2]

    def select(self, mask: np.ndarray) -> _Rows:
        return _Rows(self.buf, *(getattr(self, f.name)[mask] for f in fields(self)[1:]))

    def keys(self, width: int) -> np.ndarray:
        """Fixed-width bytes [M] of the first field; a longer key is cut to `width` + 1 bytes so that it
        never equals a key of at most `width` bytes."""
        lengths = np.minimum(self.key_stop - self.start, width + 1)
        return _gather(self.buf, self.start, lengths, width + 1).view(f"S{width + 1}").ravel()

    def raw(self, row: int, column: int) -> str:
        """The text of one field (for messages)."""
        text = bytes(self.buf[self.start[row]:self.stop[row]]).decode("utf-8", errors="replace")
        parts = text.split(",")
        return parts[column] if column < len(parts) else ""


def _locate_commas(buf: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, ...]:
    """(index of each line's first comma, commas per line, comma positions ending with a sentinel)."""
    commas = np.flatnonzero(buf == _COMMA)
    n = len(starts)
    if n:
        commas = commas[np.searchsorted(commas, starts[0]):]  # the header's commas are not rows'
    if len(commas) == 2 * n and np.all(commas[0::2] >= starts) and np.all(commas[1::2] < stops):
        # Two commas per line in all, and line k holds pair k: every line has exactly two, no search needed.
        first_comma, n_commas = np.arange(0, 2 * n, 2), np.full(n, 2)
    else:
        first_comma = np.searchsorted(commas, starts)
        n_commas = np.searchsorted(commas, stops) - first_comma
    return first_comma, n_commas, np.append(commas, buf.size)  # the sentinel keeps lookups in bounds


def _read_rows(path: str | os.PathLike) -> tuple[str | None, _Rows]:
    """(header line or None when line 1 is already a data row, rows) of a flat CSV file."""
    path = Path(path)
    if not path.is_file():
        raise AbawError(f"{path}: file not found")
    buf, starts, stops = _split_lines(path.read_bytes())
    header = None
    if len(starts):
        first = bytes(buf[starts[0]:stops[0]])
        if not first.split(b",", 1)[0].strip().lower().endswith(b".jpg"):
            header = first.decode("utf-8", errors="replace")
            starts, stops = starts[1:], stops[1:]
    line = np.arange(len(starts), dtype=np.int64) + (2 if header is not None else 1)
    first_comma, n_commas, commas = _locate_commas(buf, starts, stops)
    key_stop = np.where(n_commas > 0, commas[first_comma], stops)
    values = np.full((len(starts), 2), np.nan)
    parsed = np.zeros((len(starts), 2), dtype=bool)
    three = np.flatnonzero(n_commas == 2)
    if three.size:
        second = commas[first_comma[three] + 1]
        values[three, 0], parsed[three, 0] = _parse_numbers(buf, key_stop[three] + 1, second)
        values[three, 1], parsed[three, 1] = _parse_numbers(buf, second + 1, stops[three])
    return header, _Rows(buf, line, starts, stops, key_stop, n_commas + (stops > starts), values, parsed)


def read_submission(path: str | os.PathLike, text_keys: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(keys unicode [N], values float64 [N, 2]) of a flat `image_location,valence,arousal` file; with
    `text_keys=False` the keys stay UTF-8 bytes, which `parse_frame_keys` reads without a conversion.

    The header is optional; NaN and inf are kept (a reader decides what they mean). A row without
    three fields or with a value that is not a number is an AbawError naming its line.
    """
    header, rows = _read_rows(path)
    if header is not None and header != HEADER:
        raise AbawError(f"{path}:1: header {header!r}; expected {HEADER!r} or no header")
    bad = np.flatnonzero(rows.n_fields != 3)
    if bad.size:
        raise AbawError(f"{path}:{rows.line[bad[0]]}: {rows.n_fields[bad[0]]} fields, expected 3 "
                        f"({HEADER}); {bad.size} such rows")
    bad = np.flatnonzero(~rows.parsed.all(axis=1))
    if bad.size:
        column = int(np.argmin(rows.parsed[bad[0]]))
        raise AbawError(f"{path}:{rows.line[bad[0]]}: {rows.raw(bad[0], column + 1)!r} is not a number; "
                        f"{bad.size} such rows")
    lengths = rows.key_stop - rows.start
    if lengths.size and lengths.max() > _MAX_KEY_BYTES:
        row = int(np.argmax(lengths))
        raise AbawError(f"{path}:{rows.line[row]}: image_location is {lengths[row]} bytes long; "
                        "expected <video>/<NNNNN>.jpg")
    width = int(lengths.max()) if lengths.size else 0
    keys = rows.keys(width)
    return (_as_text(keys) if text_keys else keys), rows.values


# ---------------------------------------------------------------------------------------------- validation


def _listed(count: int, what: str, items: list[str], fix: str) -> str:
    """One problem line: the count, what is wrong, the first SHOWN offending items, and the fix."""
    more = f", ... ({count - len(items)} more)" if count > len(items) else ""
    return f"{count} {what}: {', '.join(items)}{more}; {fix}"


def _rows_word(n: int, word: str = "row") -> str:
    return word if n == 1 else f"{word}s"


def _key_problems(template: Template, rows: _Rows) -> list[str]:
    """Rows absent from the template, duplicated, missing, or out of the template's order."""
    expected, expected_lengths = _key_matrix(template.videos, template.video_idx, template.frames)
    n = len(expected)
    if len(rows.start) == n and np.array_equal(rows.key_stop - rows.start, expected_lengths):
        # Same lengths: every key matches when the key bytes of the file, concatenated, match.
        mark = np.zeros(rows.buf.size + 1, dtype=np.int8)
        mark[rows.start] += 1
        mark[rows.key_stop] -= 1
        inside = np.cumsum(mark, dtype=np.int8)[:-1].view(bool)
        flat = expected.ravel()
        if np.array_equal(rows.buf[inside], flat[flat != 0]):
            return []

    width = expected.shape[1]
    template_keys = expected.view(f"S{width}").ravel()
    order = np.argsort(template_keys, kind="stable")
    known = template_keys[order]
    found = rows.keys(width)
    at = np.minimum(np.searchsorted(known, found), max(n - 1, 0))
    pos = np.where(known[at] == found, order[at], -1) if n else np.full(len(found), -1)

    def key(row: int) -> str:
        return repr(rows.raw(row, 0))

    problems = []
    unknown = np.flatnonzero(pos < 0)
    if unknown.size:
        items = [f"line {rows.line[r]} ({key(r)})" for r in unknown[:SHOWN]]
        problems.append(_listed(unknown.size, f"{_rows_word(unknown.size)} not in the template", items,
                                "every image_location must be a template row"))

    matched = np.flatnonzero(pos >= 0)
    by_key = matched[np.argsort(pos[matched], kind="stable")]
    first = np.ones(len(by_key), dtype=bool)
    first[1:] = pos[by_key[1:]] != pos[by_key[:-1]]
    first_row = by_key[np.maximum.accumulate(np.where(first, np.arange(len(by_key)), 0))]
    repeats = np.flatnonzero(~first)
    if repeats.size:
        items = [f"line {rows.line[by_key[i]]} repeats line {rows.line[first_row[i]]} ({key(by_key[i])})"
                 for i in repeats[:SHOWN]]
        problems.append(_listed(repeats.size, f"duplicate {_rows_word(repeats.size)}", items,
                                "keep one row per template frame"))

    seen = np.zeros(n, dtype=bool)
    seen[pos[matched]] = True
    missing = np.flatnonzero(~seen)
    if missing.size:
        shown = missing[:SHOWN]
        keys = frame_keys(template.videos, template.video_idx[shown], template.frames[shown])
        items = [f"{str(k)!r} (expected at line {m + 2})" for k, m in zip(keys, shown, strict=True)]
        problems.append(_listed(missing.size, f"template {_rows_word(missing.size)} missing", items,
                                "predict every template frame"))

    in_file_order = np.sort(by_key[first])
    ranks = pos[in_file_order]
    back = np.flatnonzero(ranks[1:] < ranks[:-1]) + 1
    if back.size:
        items = [f"line {rows.line[in_file_order[i]]} ({key(in_file_order[i])} after "
                 f"{key(in_file_order[i - 1])})" for i in back[:SHOWN]]
        problems.append(_listed(back.size, f"{_rows_word(back.size)} out of the template's order", items,
                                "write rows in template order (abaw.submission.write_submission does)"))
    return problems


def _value_problems(rows: _Rows) -> list[str]:
    """Values that are not numbers, not finite, the -5 marker, or outside [-1, 1]."""
    names = ("valence", "arousal")
    values, parsed = rows.values, rows.parsed
    if parsed.all() and (np.abs(values) <= 1.0).all():  # NaN fails the comparison too
        return []
    checked = rows.n_fields == 3
    finite = np.isfinite(values)
    checks = (
        (checked[:, None] & ~parsed, "with a value that is not a number", "write plain decimal numbers"),
        (parsed & ~finite, "with NaN or inf", "predict every frame with a finite value"),
        (values == NO_LABEL, "holding a -5 placeholder (the no-label marker of the annotations)",
         "every frame needs a real prediction in [-1, 1]"),
        (finite & (values != NO_LABEL) & (np.abs(values) > 1.0), "with values outside [-1, 1]",
         "clip predictions to [-1, 1]"),
    )
    problems = []
    for bad, what, fix in checks:
        hit = np.flatnonzero(bad.any(axis=1))
        if hit.size:
            items = []
            for r in hit[:SHOWN]:
                c = int(np.argmax(bad[r]))
                text = rows.raw(r, c + 1)
                items.append(f"line {rows.line[r]} ({names[c]} {text if parsed[r, c] else repr(text)})")
            problems.append(_listed(hit.size, f"{_rows_word(hit.size)} {what}", items, fix))
    return problems


def submission_problems(template: Template, submission_path: str | os.PathLike) -> list[str]:
    """Every way `submission_path` differs from a valid submission for `template`; [] when valid."""
    header, rows = _read_rows(submission_path)
    problems = []
    if header is None:
        problems.append(f"line 1: no header; the first line must be {HEADER!r}")
    elif header != HEADER:
        problems.append(f"line 1: header {header!r}; it must be exactly {HEADER!r}")
    blank = rows.n_fields == 0
    if blank.any():
        lines = rows.line[blank]
        items = [f"line {x}" for x in lines[:SHOWN]]
        problems.append(_listed(lines.size, _rows_word(lines.size, "blank line"), items, "remove them"))
        rows = rows.select(~blank)
    if len(rows.start) != len(template.frames):
        problems.append(f"{len(rows.start)} rows; the template has {len(template.frames)} "
                        "(one row per template frame)")
    problems += _key_problems(template, rows)
    wrong = np.flatnonzero(rows.n_fields != 3)
    if wrong.size:
        items = [f"line {rows.line[r]} ({rows.n_fields[r]} fields)" for r in wrong[:SHOWN]]
        problems.append(_listed(wrong.size, f"{_rows_word(wrong.size)} without 3 fields", items,
                                f"every row is {HEADER}"))
    problems += _value_problems(rows)
    return problems


def validate_submission(template_path: str | os.PathLike, submission_path: str | os.PathLike) -> list[str]:
    """Problems of a flat submission against the test template (header, rows, order, values); [] if valid."""
    return submission_problems(read_template(template_path), submission_path)


# ----------------------------------------------------------------------------------------------------- CLI


def run_validate(args: argparse.Namespace) -> dict[str, Any]:
    template = read_template(args.template)
    problems = submission_problems(template, args.submission)
    rows = len(template.frames)
    if not problems:
        print(f"OK: {rows} rows")
        return {"ok": True, "rows": rows, "problems": []}
    print(f"{args.submission}: {len(problems)} {'problem' if len(problems) == 1 else 'problems'}")
    for problem in problems:
        print(f"  - {problem}")
    return {"ok": False, "rows": rows, "problems": problems}


def register(subparsers: argparse._SubParsersAction) -> None:
    from abaw.cli import add_command

    parser = add_command(subparsers, "validate-submission",
                         "check a flat submission against the test template (exit 1 on any problem)",
                         run_validate)
    parser.add_argument("--template", type=Path, required=True, help="the test template file")
    parser.add_argument("--submission", type=Path, required=True, help="the flat submission to check")
