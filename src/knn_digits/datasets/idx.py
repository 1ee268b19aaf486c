"""MNIST's file format, IDX: read and write any IDX array, gzipped or not.

Files are checked as they are read (magic number, declared sizes, trailing bytes), and every
error names the file. Writing is atomic, so a crash never leaves half a file.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = ["read_idx", "write_idx"]

# IDX type codes (third byte of the magic number) and the big-endian dtypes they stand for.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("="): code for code, dt in _IDX_DTYPES.items()}


def _decode_idx(data: bytes, source: str) -> np.ndarray:
    """Parse IDX bytes; ``source`` names the file in error messages."""
    if len(data) < 4:
        raise DataError(f"{source}: not an IDX file (only {len(data)} bytes)")
    zero, type_code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or type_code not in _IDX_DTYPES or not 1 <= ndim <= 8:
        raise DataError(
            f"{source}: not an IDX file (magic number {int.from_bytes(data[:4], 'big')}; "
            "expected 2049 for labels or 2051 for images)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source}: truncated header ({len(data)} bytes, need {header})")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_DTYPES[type_code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) < expected:
        raise DataError(
            f"{source}: truncated: the header promises shape {shape} ({expected} bytes) "
            f"but the file has {len(data)} bytes"
        )
    if len(data) > expected:
        raise DataError(f"{source}: {len(data) - expected} unexpected bytes after the data")
    array = np.frombuffer(
        data, dtype=dtype, count=(expected - header) // dtype.itemsize, offset=header
    )
    return array.reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def _read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it is gzip (by its magic bytes, not its name)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    return raw


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a native-endian array of the shape it declares.

    Raises :class:`DataError` naming the file for a bad magic number, a truncated file or
    trailing garbage.
    """
    path = Path(path)
    return _decode_idx(_read_bytes(path), str(path))


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` as IDX (gzipped when ``path`` ends in ``.gz``), atomically.

    The inverse of :func:`read_idx`; used to export people's samples in MNIST's own format.
    """
    array = np.asarray(array)
    code = _IDX_CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(
            f"write_idx: dtype {array.dtype} has no IDX type code; "
            "use uint8, int8, int16, int32, float32 or float64"
        )
    if not 1 <= array.ndim <= 8:
        raise ValueError(f"write_idx: expected 1 to 8 dimensions, got {array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    payload = header + array.astype(_IDX_DTYPES[code], copy=False).tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    _write_atomically(path, [payload])


def _write_atomically(path: Path, chunks: Iterable[bytes]) -> None:
    """Write to a temporary file beside ``path`` and rename it: no half file survives a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
