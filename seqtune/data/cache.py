"""Token cache: tokenise a text file once into a flat binary id file, memory-map it on every later run.

Used by :func:`seqtune.data.text.load_lm_corpus` for file-backed splits::

    tok = cached_tokenizer(settings, TextSource(train_path, "utf-8"))    # fitted once, then read from the cache
    ids = encode_cached(TextSource(train_path, "utf-8"), tok)            # (n,) int64, memory-mapped

The file is read in chunks of whole lines (decoded incrementally), each chunk encoded and appended to a
temporary file, which is renamed into place when complete, so memory stays flat however large the corpus is
and an interrupted run never leaves a half-written cache entry.  Entries are keyed by the file's absolute
path, size and modification time, the encoding and a hash of the tokenizer; change any and the file is
tokenised again.  The cache lives in ``$SEQTUNE_CACHE_DIR`` (else ``$XDG_CACHE_HOME/seqtune/tokens``, else
``~/.cache/seqtune/tokens``); delete it freely.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import torch

from seqtune.data.compression import open_binary
from seqtune.data.formats import _decode_error_message
from seqtune.data.records import TextSource
from seqtune.data.tokenizers import Tokenizer, TokenizerSettings, fit_tokenizer, tokenizer_from_dict, tokenizer_hash
from seqtune.errors import DataError

CHUNK_BYTES = 4 << 20  # 4 MiB of text per encode call: big enough to amortise Python overhead, small in memory
_VERSION = 1  # bump when the cache layout or the chunking changes


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("SEQTUNE_CACHE_DIR"):
        return Path(env["SEQTUNE_CACHE_DIR"]).expanduser()
    xdg = env.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "seqtune" / "tokens"


def iter_text(source: TextSource, chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """Yield the file's text in pieces that end at a line break (the last piece may not).

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
            if block and cut == 0:  # no line break in this block: keep reading
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
                yield text
            if not block:
                return


def _source_key(source: TextSource) -> dict:
    st = os.stat(source.path)
    return {
        "path": os.path.abspath(source.path),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "encoding": source.encoding,
        "version": _VERSION,
    }


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
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_write_text(path, json.dumps(tok.to_dict()))
    return tok


def encode_to_file(source: TextSource, tok: Tokenizer, out: Path) -> int:
    """Encode ``source`` into ``out`` as raw little-endian int64 ids; returns the number of tokens."""
    n = 0
    with open(out, "wb") as fh:
        for text in iter_text(source):
            ids = np.asarray(tok.encode(text), dtype="<i8")
            ids.tofile(fh)
            n += ids.size
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
    folder = cache_dir()
    key = _digest({**_source_key(source), "tokenizer": tokenizer_hash(tok)})
    path, meta = folder / f"ids-{key}.int64", folder / f"ids-{key}.json"
    if use_cache and path.exists() and meta.exists():
        n = json.loads(meta.read_text(encoding="utf-8"))["tokens"]
        if path.stat().st_size == 8 * n:
            return open_ids(path, n)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        n = encode_to_file(source, tok, tmp)
        if not use_cache:
            return torch.from_numpy(np.fromfile(tmp, dtype="<i8").astype(np.int64))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _atomic_write_text(meta, json.dumps({"tokens": n, "source": str(source.path), "tokenizer": tok.kind}))
    return open_ids(path, n)
