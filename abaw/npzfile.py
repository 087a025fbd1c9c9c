"""The one reader of `.npz` files: every table and cache is read through `load_npz`.

A file cut short by a full disk, a killed copy or an interrupted download surfaces inside numpy as
`zipfile.BadZipFile`, `zlib.error`, `EOFError` or a shape `ValueError`, depending on where the cut
fell. All of them mean the same thing to a user, so they become one `AbawError`:

    <file>: damaged or incomplete (<what numpy saw>); <what to rerun>

`rerun` is the caller's advice, e.g. "rerun `src_visual_dynamic_model/main.py extract`", since only the
caller knows which command wrote the file.
"""

from __future__ import annotations

import mmap as mmap_module
import os
import struct
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from abaw.errors import AbawError

# What numpy and zipfile raise on a truncated or overwritten archive or member.
DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)
ZIP_MAGIC = b"PK\x03\x04"
LOCAL_HEADER = 30  # bytes of a zip local file header before its name and extra field


def damaged(path: str | os.PathLike, reason: object, rerun: str) -> AbawError:
    """The error for a damaged file, for callers that find the damage themselves (a missing array)."""
    return AbawError(f"{path}: damaged or incomplete ({reason}); {rerun}")


def load_npz(path: str | os.PathLike, rerun: str, keys: Iterable[str] | None = None,
             mmap: bool = False) -> dict[str, np.ndarray]:
    """Every array of an `.npz` (or only `keys`, which must all be present), read with pickle disabled.

    With `mmap`, uncompressed arrays are read-only views of the file's pages instead of copies: nothing
    is copied at load time and the pages are shared with the page cache. The file must then not be
    changed in place while the arrays live (abaw replaces files atomically, which is safe).

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
            with open(path, "rb") as fh:
                mapped = mmap_module.mmap(fh.fileno(), 0, access=mmap_module.ACCESS_READ) if mmap else None
                arrays = {}
                for key in wanted:
                    info = data.zip.NameToInfo.get(f"{key}.npy")
                    stored = info is not None and info.compress_type == zipfile.ZIP_STORED
                    array = read_member(fh, info, mapped) if stored else None
                    arrays[key] = data[key] if array is None else array
                return arrays
    except AbawError:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise AbawError(f"{path}: cannot be read without pickle (it holds object arrays); it was not "
                            "written by this toolkit") from exc
        raise damaged(path, exc, rerun) from exc
    except DAMAGE as exc:
        raise damaged(path, str(exc) or type(exc).__name__, rerun) from exc


def read_member(fh, info: zipfile.ZipInfo, mapped: mmap_module.mmap | None = None) -> np.ndarray | None:
    """One stored (uncompressed) `.npy` member of the open archive `fh`, checked against its CRC like
    numpy's reader.

    Tables and caches are written uncompressed, so a member is read with one `readinto` into the final
    array (or viewed in `mapped`, the whole file mapped read-only) and checked with one CRC pass: numpy's
    own reader copies it in 256 KiB pieces through zipfile, which costs several times the reading at
    Aff-Wild2 size. None for a header version this reader does not know (numpy's reader then reads it).
    """
    fh.seek(info.header_offset)
    local = fh.read(LOCAL_HEADER)
    if len(local) < LOCAL_HEADER or local[:4] != ZIP_MAGIC:
        raise zipfile.BadZipFile(f"bad local header of {info.filename}")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    start = info.header_offset + LOCAL_HEADER + name_len + extra_len
    fh.seek(start)
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    else:
        return None
    if dtype.hasobject:
        raise ValueError("Object arrays cannot be loaded when allow_pickle=False")
    header = fh.tell() - start
    layout = shape[::-1] if fortran else shape
    count = int(np.prod(layout, dtype=np.int64))
    if header + count * dtype.itemsize != info.file_size:
        raise zipfile.BadZipFile(f"{info.filename}: {info.file_size} bytes, but its header describes "
                                 f"{header + count * dtype.itemsize}")
    fh.seek(start)
    crc = zlib.crc32(fh.read(header))
    if mapped is not None:
        stop = start + info.file_size
        if stop > len(mapped):
            raise EOFError(f"{info.filename} is cut short")
        crc = zlib.crc32(memoryview(mapped)[start + header:stop], crc)
        array = np.frombuffer(mapped, dtype, count, start + header).reshape(layout)
    else:
        array = np.empty(layout, dtype)
        flat = array.reshape(-1).view(np.uint8)
        if fh.readinto(flat) != flat.size:
            raise EOFError(f"{info.filename} is cut short")
        crc = zlib.crc32(flat, crc)
    if crc != info.CRC:
        raise zipfile.BadZipFile(f"bad CRC-32 for {info.filename}")
    return array.T if fortran else array
