"""The one reader of `.npz` files: every table and cache is read through `load_npz`.

A file cut short by a full disk, a killed copy or an interrupted download surfaces inside numpy as
`zipfile.BadZipFile`, `zlib.error`, `EOFError` or a shape `ValueError`, depending on where the cut
fell. All of them mean the same thing to a user, so they become one `AbawError`:

    <file>: damaged or incomplete (<what numpy saw>); <what to rerun>

`rerun` is the caller's advice, e.g. "rerun `src_visual_dynamic_model/main.py extract`", since only the
caller knows which command wrote the file.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from abaw.errors import AbawError

# What numpy and zipfile raise on a truncated or overwritten archive or member.
DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)
ZIP_MAGIC = b"PK\x03\x04"


def damaged(path: str | os.PathLike, reason: object, rerun: str) -> AbawError:
    """The error for a damaged file, for callers that find the damage themselves (a missing array)."""
    return AbawError(f"{path}: damaged or incomplete ({reason}); {rerun}")


def load_npz(path: str | os.PathLike, rerun: str, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Every array of an `.npz` (or only `keys`, which must all be present), read with pickle disabled.

    Raises `AbawError` when the file is missing, holds object arrays (pickle), or is damaged; `rerun`
    ends the message and says which command writes the file again.
    """
    path = Path(path)
    if not path.is_file():
        raise AbawError(f"{path}: file not found; {rerun}")
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(ZIP_MAGIC))
        # Checked first: numpy takes any file that is neither zip nor .npy for a pickle.
        if head != ZIP_MAGIC:
            raise damaged(path, f"only {len(head)} bytes" if len(head) < len(ZIP_MAGIC)
                          else "not an .npz archive", rerun)
        with np.load(path, allow_pickle=False) as data:
            wanted = list(data.files) if keys is None else list(keys)
            missing = [key for key in wanted if key not in data.files]
            if missing:
                raise damaged(path, f"no {missing[0]!r} array", rerun)
            return {key: data[key] for key in wanted}
    except AbawError:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise AbawError(f"{path}: cannot be read without pickle (it holds object arrays); it was not "
                            "written by this toolkit") from exc
        raise damaged(path, exc, rerun) from exc
    except DAMAGE as exc:
        raise damaged(path, str(exc) or type(exc).__name__, rerun) from exc
