"""Token cache: tokenise a text file once into a flat binary id file, memory-map it on every later run.

Used by :func:`seqtune.data.text.load_lm_corpus` for file-backed splits::

    tok = cached_tokenizer(settings, TextSource(train_path, "utf-8"))    # fitted once, then read from the cache
    ids = encode_cached(TextSource(train_path, "utf-8"), tok)            # (n,) int64, memory-mapped

The file is read in chunks of whole lines (decoded incrementally; a file without line breaks in chunks cut at
blanks), each chunk encoded and appended to a temporary file, which is renamed into place when complete, so
memory stays flat however large the corpus is and an interrupted run never leaves a half-written cache entry.
Entries are keyed by the file's absolute path, size and modification time, the encoding and a hash of the
tokenizer; change any and the file is tokenised again.  The cache lives in ``$SEQTUNE_CACHE_DIR`` (else
``$XDG_CACHE_HOME/seqtune/tokens``, else
``~/.cache/seqtune/tokens``); delete it freely.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import torch

from seqtune.data.compression import open_binary
from seqtune.data.fingerprint import file_digest
from seqtune.data.formats import _decode_error_message
from seqtune.data.records import TextSource
from seqtune.data.tokenizers import (
    EOS_ID,
    Tokenizer,
    TokenizerSettings,
    fit_tokenizer,
    tokenizer_from_dict,
    tokenizer_hash,
)
from seqtune.errors import DataError

CHUNK_BYTES = 4 << 20  # 4 MiB of text per encode call: big enough to amortise Python overhead, small in memory
_VERSION = 2  # bump when the cache layout or the chunking changes (2: long lines cut at blanks)


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("SEQTUNE_CACHE_DIR"):
        return Path(env["SEQTUNE_CACHE_DIR"]).expanduser()
    xdg = env.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "seqtune" / "tokens"


def iter_pieces(source: TextSource, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[str, bool]]:
    """Yield ``(text, mid_line)``: the file's text in pieces of about ``chunk_bytes``.

    A piece ends after a line break (``mid_line`` False; the file's last piece may end without one).  A block of
    ``chunk_bytes`` without any line break (a corpus that is one long line) is cut after its last space or tab
    instead (``mid_line`` True: the line goes on in the next piece), so such a corpus is read with flat memory
    too; words are never split.  The blank starts the next piece, as subword pre-tokenizers (Metaspace) read a
    blank as the start of the word after it: a piece ending in one would gain a lone word-boundary token.  (Only
    for encodings in which a space is the byte 0x20, e.g. UTF-8 and the Latin code pages; others read on to the
    next line break.)

    Undecodable bytes raise the same DataError as :func:`~seqtune.data.formats.read_text` (file, line, byte
    offset, a suggested ``dataset.encoding``), with line and offset counted from the start of the file.
    """
    where = os.path.abspath(source.path)
    try:
        codec = codecs.lookup(source.encoding)
    except LookupError:
        raise DataError(
            f"Cannot read {where}: unknown text encoding {source.encoding!r}. Set dataset.encoding "
            "to a codec name Python knows, such as utf-8, latin-1 or cp1252."
        ) from None
    ascii_spaces = " \t".encode(codec.name, errors="replace") == b" \t"
    try:
        fh = open_binary(source.path)  # .gz .bz2 .xz uncompressed as they stream
    except FileNotFoundError:
        raise DataError(f"Data file not found: expected it at {where}; check the path.") from None
    with fh:
        if os.fstat(fh.fileno()).st_size == 0:
            raise DataError(f"Data file {where} is empty (0 bytes); put the data in it or point to another file.")
        decoder = codec.incrementaldecoder("strict")
        offset, lines_before, pending, first = 0, 0, b"", True
        while True:
            block = fh.read(chunk_bytes)
            data = pending + block
            cut = data.rfind(b"\n") + 1 if block else len(data)
            mid_line = False
            if block and cut == 0 and ascii_spaces:  # one long line: cut before its last blank instead
                cut = max(data.rfind(b" "), data.rfind(b"\t"), 0)  # the blank starts the next piece (see above)
                mid_line = cut > 0
            if block and cut == 0:  # no place to cut in this block: keep reading
                pending = data
                continue
            piece, pending = data[:cut], data[cut:]
            try:
                text = decoder.decode(piece, final=not block)
            except UnicodeDecodeError as exc:
                msg = _decode_error_message(where, piece, exc, codec.name)
                # Re-anchor the chunk-relative line and offset to the whole file.
                local_line = piece.count(b"\n", 0, exc.start) + 1
                msg = msg.replace(
                    f"line {local_line}, byte offset {exc.start}",
                    f"line {lines_before + local_line}, byte offset {offset + exc.start}",
                    1,
                )
                raise DataError(msg) from None
            if first and codec.name == "utf-8" and text.startswith("\ufeff"):
                text = text[1:]
            first = False
            offset += len(piece)
            lines_before += piece.count(b"\n")
            if text:
                yield text, mid_line
            if not block:
                return


def iter_text(source: TextSource, chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """The file's text in pieces (see :func:`iter_pieces`); joined, they are the whole file."""
    for text, _ in iter_pieces(source, chunk_bytes):
        yield text


def _source_key(source: TextSource) -> dict:
    st = os.stat(source.path)
    return {
        "path": os.path.abspath(source.path),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "content": file_digest(source.path),  # an edit that keeps size and mtime (cp -p, tar) is still seen
        "encoding": source.encoding,
        "version": _VERSION,
    }


def _ready(folder: Path) -> None:
    """The cache folder, created, with the temporaries of killed processes removed; one that cannot be created
    is a DataError saying how to move the cache (or do without it)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create the token cache folder {folder} ({exc.strerror or exc}). Set SEQTUNE_CACHE_DIR to a "
            "writable folder (e.g. SEQTUNE_CACHE_DIR=/tmp/seqtune-cache), or set dataset.token_cache=false."
        ) from None
    for tmp in folder.glob(".*.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a temporary file named after it may still be written)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _digest(obj: dict) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode("utf-8")).hexdigest()[:24]


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def cached_tokenizer(settings: TokenizerSettings, train: TextSource, use_cache: bool = True) -> Tokenizer:
    """Fit the tokenizer on ``train`` chunk by chunk, or read the one fitted earlier on the same file."""
    if not use_cache:
        return fit_tokenizer(settings, iter_text(train))
    folder = cache_dir()
    path = folder / f"tokenizer-{_digest({**_source_key(train), 'settings': settings.__dict__})}.json"
    if path.exists():
        return tokenizer_from_dict(json.loads(path.read_text(encoding="utf-8")))
    tok = fit_tokenizer(settings, iter_text(train))
    _ready(folder)
    _atomic_write_text(path, json.dumps(tok.to_dict()))
    return tok


def encode_to_file(
    source: TextSource, tok: Tokenizer, out: Path, chunk_bytes: int = CHUNK_BYTES, counts: np.ndarray | None = None
) -> int:
    """Encode ``source`` into ``out`` as raw little-endian int64 ids; returns the number of tokens.  ``counts``
    (vocab,) int64, if given, gets every id's occurrences added (free here; a later pass over a memory-mapped
    file would pull all of it into resident memory).

    The ids are those of encoding the whole file at once: a piece cut in the middle of a line (a file without
    line breaks) loses the ``<eos>`` a tokenizer with ``add_eos`` puts after the end of every piece it is given.
    """
    n = 0
    drops_eos = bool(getattr(tok, "add_eos", False))
    with open(out, "wb") as fh:
        encode_array = getattr(tok, "encode_array", None)  # a vectorised encoder (char), else a list of ids
        for text, mid_line in iter_pieces(source, chunk_bytes):
            ids = np.asarray(encode_array(text) if encode_array else tok.encode(text), dtype="<i8")
            if mid_line and drops_eos and ids.size and ids[-1] == EOS_ID:
                ids = ids[:-1]
            ids.tofile(fh)
            n += ids.size
            if counts is not None:
                counts += np.bincount(ids, minlength=counts.size)
    return n


def open_ids(path: Path, n: int) -> torch.Tensor:
    """Memory-map an id file as a (n,) int64 tensor; pages are read on demand and never copied into RAM."""
    if n == 0:
        return torch.zeros(0, dtype=torch.long)
    # Copy-on-write mapping: writable as torch expects, but the file itself is never changed.
    return torch.from_numpy(np.memmap(path, dtype="<i8", mode="c", shape=(n,)))


def encode_cached(source: TextSource, tok: Tokenizer, use_cache: bool = True) -> torch.Tensor:
    """The ids of ``source`` under ``tok``: from the cache when present, else tokenised once and cached.

    With ``use_cache=False`` the file is still streamed (flat memory) but the ids are read into RAM.
    """
    folder = cache_dir() if use_cache else Path(tempfile.gettempdir())  # no cache: a temporary file only
    key = _digest({**_source_key(source), "tokenizer": tokenizer_hash(tok)})
    path, meta = folder / f"ids-{key}.int64", folder / f"ids-{key}.json"
    if use_cache and path.exists() and meta.exists():
        n = json.loads(meta.read_text(encoding="utf-8"))["tokens"]
        if path.stat().st_size == 8 * n:
            return open_ids(path, n)
    _ready(folder)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    counts = np.zeros(tok.vocab_size, dtype=np.int64)
    try:
        n = encode_to_file(source, tok, tmp, counts=counts)
        if not use_cache:
            return torch.from_numpy(np.fromfile(tmp, dtype="<i8").astype(np.int64))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _atomic_write_text(
        meta, json.dumps({"tokens": n, "source": str(source.path), "tokenizer": tok.kind, "counts": counts.tolist()})
    )
    return open_ids(path, n)


def cached_counts(source: TextSource, tok: Tokenizer) -> torch.Tensor | None:
    """Occurrences of every token id (vocab,) in the cached encoding of ``source`` (counted while it was
    encoded), or None when the cache holds none: count the ids yourself then."""
    key = _digest({**_source_key(source), "tokenizer": tokenizer_hash(tok)})
    meta = cache_dir() / f"ids-{key}.json"
    if not meta.exists():
        return None
    counts = json.loads(meta.read_text(encoding="utf-8")).get("counts")
    return torch.tensor(counts, dtype=torch.long) if counts is not None and len(counts) == tok.vocab_size else None
