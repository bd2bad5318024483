"""Verified download and cache of dataset files.

Dataset builders describe each file they need as a :class:`RemoteFile` (path inside the dataset folder,
URL, expected sha256) and call :func:`fetch` with the dataset's folder under :func:`data_dir`.  A file
already in the cache is checked against its sha256 and used; a missing one is downloaded to a temporary
file next to its final place, hashed while streaming, verified and only then renamed into place, so an
interrupted or corrupt download never leaves a file under the final name.  On machines without internet
the user puts the files there by hand (or points ``SEQTUNE_DATA_DIR`` at a folder that has them); every
failure raises :class:`~seqtune.errors.DataError` saying which file to put where.
:func:`verify_folder` checks a folder against a ``sha256sum``-style ``SHA256SUMS`` file.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from seqtune.errors import DataError

__all__ = ["RemoteFile", "data_dir", "fetch", "sha256_file", "verify_folder"]

_CHUNK = 1 << 20  # 1 MiB: large enough for throughput, small enough to keep memory flat on big files
_USER_AGENT = "seqtune-data-fetch"  # some hosts refuse urllib's default Python-urllib agent


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset.

    ``name`` is its relative path inside the dataset folder (``/``-separated), ``url`` where to download
    it, ``sha256`` its expected hex digest (``None`` skips verification).
    """

    name: str
    url: str
    sha256: str | None


def sha256_file(path: str | Path) -> str:
    """Hex sha256 digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The root folder for downloaded datasets.

    ``$SEQTUNE_DATA_DIR`` when set and non-empty, else ``$XDG_CACHE_HOME/seqtune/data``, else
    ``~/.cache/seqtune/data``.  The environment is read at each call (``environ`` defaults to
    ``os.environ``), so a variable set after import still counts.
    """
    env = os.environ if environ is None else environ
    explicit = env.get("SEQTUNE_DATA_DIR", "")
    if explicit:
        return Path(explicit).expanduser()
    cache = env.get("XDG_CACHE_HOME", "")
    # The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
    if cache and Path(cache).is_absolute():
        return Path(cache) / "seqtune" / "data"
    return Path.home() / ".cache" / "seqtune" / "data"


def _target(file: RemoteFile, folder: Path) -> Path:
    rel = PurePosixPath(file.name)
    # The name comes from a dataset definition; refuse anything that would write outside the folder.
    if not file.name or rel.is_absolute() or ".." in rel.parts:
        raise DataError(
            f"Invalid dataset file name {file.name!r}: it must be a relative path inside the dataset folder "
            "without '..'. Fix the dataset definition."
        )
    return Path(os.path.abspath(folder)).joinpath(*rel.parts)


def _put_it_there(file: RemoteFile, final: Path) -> str:
    checksum = f" (sha256 {file.sha256})" if file.sha256 else ""
    return (
        f"Put the file at {final}{checksum}, downloading it from {file.url} on a machine with internet access, "
        "or set SEQTUNE_DATA_DIR to a folder that already has it."
    )


def fetch(
    file: RemoteFile,
    folder: Path,
    *,
    download: bool = True,
    timeout: float = 30.0,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Return the path of ``file`` inside ``folder``, downloading and verifying it if needed.

    An existing file is verified against ``file.sha256`` (when given) and returned.  A missing one is
    downloaded when ``download`` is true: streamed to ``.<name>.partial-<pid>`` in the same folder while
    hashing, verified, then atomically renamed with :func:`os.replace`; the temporary file is removed on
    any failure, including an interrupt.  ``progress(done_bytes, total_bytes_or_None)`` is called after
    each chunk.  ``timeout`` is the socket timeout in seconds for connecting and for each read.
    """
    final = _target(file, folder)
    if final.exists() and not final.is_file():
        raise DataError(f"Expected dataset file {final} but something else (a folder?) is there; remove it.")
    if final.exists():
        if file.sha256:
            actual = sha256_file(final)
            if actual != file.sha256.lower():
                raise DataError(
                    f"Checksum mismatch for cached file {final}: expected sha256 {file.sha256.lower()}, got "
                    f"{actual}. The file is corrupt or a different version; delete it so it is downloaded "
                    "again, or fix SEQTUNE_DATA_DIR if it points to the wrong folder."
                )
        return final
    if not download:
        raise DataError(
            f"Dataset file {file.name!r} is missing and downloading is turned off. " + _put_it_there(file, final)
        )
    # Folders this call creates, so a failed download leaves no empty folders behind in the data directory.
    created = [p for p in (final.parent, *final.parent.parents) if not p.exists()]
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"Cannot create the data folder {final.parent}: {exc.strerror or exc}. Set SEQTUNE_DATA_DIR to a "
            "writable folder."
        ) from None
    # Per-process temp name: two runs fetching the same file at once do not write into each other's file.
    partial = final.with_name(f".{final.name}.partial-{os.getpid()}")
    try:
        actual = _download(file, partial, final, timeout, progress)
        if file.sha256 and actual != file.sha256.lower():
            raise DataError(
                f"Checksum mismatch after downloading {file.url}: expected sha256 {file.sha256.lower()}, got "
                f"{actual}; the file was not saved. The download was corrupted or the server now serves a "
                "different version. " + _put_it_there(file, final)
            )
        os.replace(partial, final)
    finally:
        # Covers every failure path (network, checksum, disk, KeyboardInterrupt); a no-op after os.replace.
        partial.unlink(missing_ok=True)
        if not final.exists():
            for folder_made in created:  # innermost first; stops at the first folder that is not empty
                try:
                    folder_made.rmdir()
                except OSError:
                    break
    return final


def _download(
    file: RemoteFile,
    partial: Path,
    final: Path,
    timeout: float,
    progress: Callable[[int, int | None], None] | None,
) -> str:
    """Stream ``file.url`` into ``partial`` and return its sha256; network and disk errors become DataError."""
    digest = hashlib.sha256()
    request = urllib.request.Request(file.url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(partial, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            if progress is not None:
                progress(done, total)
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
            if total is not None and done != total:
                raise http.client.IncompleteRead(b"", total - done)
            out.flush()
            # Make the bytes durable before the rename makes them visible under the final name.
            os.fsync(out.fileno())
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(exc, urllib.error.HTTPError):
            reason = f"HTTP {exc.code} {exc.reason}"
        elif isinstance(exc, http.client.IncompleteRead):
            reason = "the connection closed before the whole file arrived"
        raise DataError(f"Could not download {file.url} ({reason}). " + _put_it_there(file, final)) from None
    except OSError as exc:
        raise DataError(
            f"Could not write {partial} while downloading {file.url}: {exc.strerror or exc}. Free disk space or "
            "set SEQTUNE_DATA_DIR to a writable folder with enough space."
        ) from None
    return digest.hexdigest()


def verify_folder(folder: Path, sha256sums: Path | None = None) -> dict[str, bool]:
    """Check the files of ``folder`` against a ``SHA256SUMS`` file (default ``folder/SHA256SUMS``).

    Each line is ``<64 hex digits>  <name>`` as written by ``sha256sum`` (a ``*`` before the name, binary
    mode, is accepted); names are relative to ``folder``.  Returns ``{name: ok}`` where ``ok`` is false for
    a file that is missing or has a different digest.  A missing or malformed SHA256SUMS raises DataError.
    """
    sums = Path(folder) / "SHA256SUMS" if sha256sums is None else Path(sha256sums)
    try:
        text = sums.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"Checksum file not found: expected it at {os.path.abspath(sums)}; check the path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"Cannot read checksum file {os.path.abspath(sums)}: {exc}.") from None
    result: dict[str, bool] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        hexdigest, _, name = line.strip().partition(" ")
        name = name.strip()
        name = name[1:] if name.startswith("*") else name
        if len(hexdigest) != 64 or any(c not in "0123456789abcdefABCDEF" for c in hexdigest) or not name:
            raise DataError(
                f"Line {line_no} of {os.path.abspath(sums)} is not '<sha256 hex>  <file name>': {line[:80]!r}. "
                "Fix that line (sha256sum writes this format)."
            )
        path = Path(folder).joinpath(*PurePosixPath(name).parts)
        result[name] = path.is_file() and sha256_file(path) == hexdigest.lower()
    return result
