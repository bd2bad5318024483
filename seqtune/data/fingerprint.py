"""What a data file is, by content: the token cache's key and a checkpoint's record of the data it trained on.

``file_digest`` hashes the whole file (BLAKE2b, read in 4 MiB blocks: about a second per GB), so a file edited
with its size and modification time kept (``cp -p``, ``tar``, ``rsync -t``) is still told apart.
``fingerprint`` is the per-file record a checkpoint keeps (size, mtime, digest); ``changed_files`` compares
two such records.  No torch here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

BLOCK = 4 << 20


def file_digest(path: str | Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK):
            h.update(block)
    return h.hexdigest()


def dataset_paths(ds: Any) -> dict[str, Path]:
    """The files a dataset config names ({dataset.<key>: path}), resolved as the readers resolve them (a relative
    folder under the data directory; no folder: relative to the launch directory)."""
    from hydra.utils import to_absolute_path

    from seqtune.data.catalog import resolve_folder

    folder = resolve_folder(ds.get("folder"))
    named: dict[str, Any] = {k: ds.get(k) for k in ("train", "valid", "test", "file")}
    for key in ("classes", "test_classes"):
        for label, name in dict(ds.get(key) or {}).items():
            named[f"{key}.{label}"] = name
    out: dict[str, Path] = {}
    for key, name in named.items():
        if isinstance(name, str) and name:
            out[f"dataset.{key}"] = folder / name if folder is not None else Path(to_absolute_path(name))
    return out


def fingerprint(paths: Mapping[str, str | Path]) -> dict[str, dict[str, Any]]:
    """{what (e.g. dataset.train): {path, size, mtime_ns, blake2b}} of the files that exist (folders: skipped)."""
    out: dict[str, dict[str, Any]] = {}
    for what, path in paths.items():
        p = Path(path)
        if p.is_file():
            st = os.stat(p)
            out[what] = {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                         "blake2b": file_digest(p)}  # fmt: skip
    return out


def changed_files(saved: dict[str, dict[str, Any]], now: dict[str, dict[str, Any]]) -> list[str]:
    """One line per file whose content differs from the saved record (or that is gone, or new)."""
    lines = []
    for what in sorted(set(saved) | set(now)):
        a, b = saved.get(what), now.get(what)
        if a is None or b is None:
            lines.append(f"{what}: {'no file was recorded' if a is None else 'the file ' + a['path'] + ' is gone'}")
        elif a.get("blake2b") != b.get("blake2b"):
            lines.append(
                f"{what}: {b['path']} has changed (size {a['size']:,} -> {b['size']:,} bytes, content differs)"
            )
    return lines
