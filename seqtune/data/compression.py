"""Compressed data files read transparently: gzip (.gz), bzip2 (.bz2) and xz (.xz), told by their first bytes
(not by the suffix, so a renamed file works too), as most public corpora ship them.  The log names the
compression of every file it undid.  Light: standard library only."""

from __future__ import annotations

import bz2
import gzip
import logging
import lzma
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

from seqtune.errors import DataError

_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}
_OPENERS: dict[str, Callable[[str | Path, str], IO[bytes]]] = {
    "gzip": gzip.open,  # type: ignore[dict-item]
    "bzip2": bz2.open,  # type: ignore[dict-item]
    "xz": lzma.open,  # type: ignore[dict-item]
}
_log = logging.getLogger("seqtune")


def compression_of(head: bytes) -> str | None:
    """The compression whose magic number ``head`` (a file's first bytes) starts with, or None."""
    return next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)


def decompress(path: str | Path, data: bytes) -> bytes:
    """``data`` (the file's bytes) uncompressed when it is gzip, bzip2 or xz; as it is otherwise."""
    kind = compression_of(data[:6])
    if kind is None:
        return data
    try:
        plain = {"gzip": gzip.decompress, "bzip2": bz2.decompress, "xz": lzma.decompress}[kind](data)
    except (OSError, EOFError, lzma.LZMAError, ValueError) as exc:
        raise DataError(
            f"Cannot read {os.path.abspath(path)}: it is {kind}-compressed but does not decompress ({exc}); the "
            "file is truncated or damaged. Download it again, or give the uncompressed file."
        ) from None
    _log.info("%s: %s-compressed, %s bytes -> %s bytes of text", path, kind, f"{len(data):,}", f"{len(plain):,}")
    return plain


def open_binary(path: str | Path) -> IO[bytes]:
    """The file opened for reading bytes, uncompressed on the fly when it is gzip, bzip2 or xz."""
    with open(path, "rb") as fh:
        kind = compression_of(fh.read(6))
    if kind is None:
        return open(path, "rb")
    _log.info("%s: %s-compressed, read uncompressed as it streams", path, kind)
    return _OPENERS[kind](path, "rb")
