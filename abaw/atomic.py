"""Atomic writes: a reader never sees a half-written output, a failed write leaves nothing behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from abaw.errors import AbawError


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    # A wrong output path (a folder, a file where a folder should be, no permission) is a user mistake.
    if path.is_dir():
        raise AbawError(f"{path}: cannot write here, it is a folder; give a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise AbawError(f"{path}: cannot write here; {path.parent} is not a writable folder "
                        f"({exc.strerror or exc})") from exc
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes owner-only files; outputs get the permissions a plain open() would give them.
    os.chmod(tmp_path, 0o666 & ~current_umask())
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray], compress: bool = False) -> Path:
    """Write arrays to an `.npz` atomically; object arrays are refused since they would need pickle."""
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise AbawError(f"{path}: array {key!r} has dtype object, which cannot be saved without pickle")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            (np.savez_compressed if compress else np.savez)(fh, **arrays)
    return Path(path)

