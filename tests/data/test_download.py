"""Tests for seqtune.data.download against a local HTTP server on 127.0.0.1 (no internet needed)."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from seqtune.data.download import RemoteFile, data_dir, fetch, sha256_file, verify_folder
from seqtune.errors import DataError

PAYLOAD = b"line one\nline two\n" * 1000
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
WRONG_SHA = "0" * 64


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """Serve tmp_path/served over HTTP and yield the base URL."""
    served = tmp_path / "served"
    (served / "sub").mkdir(parents=True)
    (served / "data.txt").write_bytes(PAYLOAD)
    (served / "sub" / "nested.txt").write_bytes(b"nested\n")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".partial-" in p.name)


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    f = tmp_path / "big.bin"
    data = bytes(range(256)) * 9000  # > 2 MiB, so several chunks
    f.write_bytes(data)
    assert sha256_file(f) == hashlib.sha256(data).hexdigest()


def test_fetch_downloads_and_verifies(server: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "demo"
    calls: list[tuple[int, int | None]] = []
    path = fetch(
        RemoteFile("data.txt", f"{server}/data.txt", PAYLOAD_SHA),
        cache,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert path == cache / "data.txt"
    assert path.read_bytes() == PAYLOAD
    assert calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert leftovers(cache) == []
    # A second call uses the cached, verified file even with downloading off.
    assert fetch(RemoteFile("data.txt", f"{server}/missing", PAYLOAD_SHA), cache, download=False) == path


def test_fetch_nested_name_creates_folders(server: str, tmp_path: Path) -> None:
    path = fetch(RemoteFile("iob2/nested.txt", f"{server}/sub/nested.txt", None), tmp_path / "c")
    assert path == tmp_path / "c" / "iob2" / "nested.txt"
    assert path.read_bytes() == b"nested\n"


def test_fetch_wrong_checksum_keeps_nothing(server: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as info:
        fetch(RemoteFile("data.txt", f"{server}/data.txt", WRONG_SHA), cache)
    msg = str(info.value)
    assert WRONG_SHA in msg
    assert PAYLOAD_SHA in msg
    assert str(cache / "data.txt") in msg
    assert not (cache / "data.txt").exists()
    assert leftovers(cache) == []


def test_fetch_interrupted_download_leaves_no_partial(server: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"

    def interrupt(done: int, total: int | None) -> None:
        if done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch(RemoteFile("data.txt", f"{server}/data.txt", PAYLOAD_SHA), cache, progress=interrupt)
    assert not (cache / "data.txt").exists()
    assert leftovers(cache) == []


def test_fetch_http_404_names_final_path(server: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as info:
        fetch(RemoteFile("gone.txt", f"{server}/gone.txt", PAYLOAD_SHA), cache)
    msg = str(info.value)
    assert f"{server}/gone.txt" in msg
    assert "404" in msg
    assert str((cache / "gone.txt").absolute()) in msg
    assert PAYLOAD_SHA in msg
    assert "SEQTUNE_DATA_DIR" in msg
    assert not (cache / "gone.txt").exists()
    assert leftovers(cache) == []


def test_fetch_unreachable_server(tmp_path: Path) -> None:
    # Bind then close a socket to get a local port nobody listens on: the connection is refused at once.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as info:
        fetch(RemoteFile("data.txt", f"http://127.0.0.1:{port}/data.txt", None), cache, timeout=2)
    assert "Could not download" in str(info.value)
    assert str((cache / "data.txt").absolute()) in str(info.value)
    assert leftovers(cache) == []


def test_fetch_timeout(tmp_path: Path) -> None:
    # A socket that accepts connections (kernel backlog) but never answers.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/data.txt"
        with pytest.raises(DataError, match="Could not download"):
            fetch(RemoteFile("data.txt", url, None), tmp_path / "cache", timeout=0.3)
    assert leftovers(tmp_path / "cache") == []


def test_fetch_missing_without_download(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        fetch(RemoteFile("x.csv", "https://example.invalid/x.csv", PAYLOAD_SHA), tmp_path, download=False)
    msg = str(info.value)
    assert str((tmp_path / "x.csv").absolute()) in msg
    assert PAYLOAD_SHA in msg
    assert "https://example.invalid/x.csv" in msg


def test_fetch_cached_file_with_bad_checksum(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_bytes(b"tampered")
    with pytest.raises(DataError) as info:
        fetch(RemoteFile("data.txt", "https://example.invalid/data.txt", PAYLOAD_SHA), tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "data.txt") in msg
    assert PAYLOAD_SHA in msg
    assert hashlib.sha256(b"tampered").hexdigest() in msg
    assert "delete" in msg
    assert "SEQTUNE_DATA_DIR" in msg
    assert (tmp_path / "data.txt").read_bytes() == b"tampered"  # never silently replaced


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", ""])
def test_fetch_rejects_names_outside_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataError, match="relative path"):
        fetch(RemoteFile(name, "https://example.invalid/x", None), tmp_path, download=False)


def test_verify_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_bytes(b"a")
    (tmp_path / "sub" / "b.txt").write_bytes(b"b")
    (tmp_path / "c.txt").write_bytes(b"changed")
    sha = {k: hashlib.sha256(v).hexdigest() for k, v in {"a": b"a", "b": b"b", "c": b"c"}.items()}
    (tmp_path / "SHA256SUMS").write_text(
        f"{sha['a']}  a.txt\n{sha['b']} *sub/b.txt\n{sha['c']}  c.txt\n{sha['a']}  missing.txt\n"
    )
    assert verify_folder(tmp_path) == {"a.txt": True, "sub/b.txt": True, "c.txt": False, "missing.txt": False}


def test_verify_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="SHA256SUMS"):
        verify_folder(tmp_path)
    sums = tmp_path / "sums.txt"
    sums.write_text("not-a-digest  a.txt\n")
    with pytest.raises(DataError, match="Line 1"):
        verify_folder(tmp_path, sums)


def test_data_dir_reads_environment_at_call_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQTUNE_DATA_DIR", str(tmp_path / "mine"))
    assert data_dir() == tmp_path / "mine"
    monkeypatch.delenv("SEQTUNE_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "seqtune" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir() == tmp_path / "home" / ".cache" / "seqtune" / "data"
    # An explicit mapping overrides os.environ; a relative XDG_CACHE_HOME is ignored (XDG spec).
    default = tmp_path / "home" / ".cache" / "seqtune" / "data"
    assert data_dir({"XDG_CACHE_HOME": "rel", "SEQTUNE_DATA_DIR": ""}) == default


def test_shared_data_checksums() -> None:
    env = os.environ.get("SEQTUNE_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"
    if not (root / "trec" / "SHA256SUMS").is_file():
        pytest.skip(f"shared data folder {root} is absent (set SEQTUNE_SHARED_DATA to run this test)")
    assert verify_folder(root / "trec") == {"TREC_10.label": True, "train_5500.label": True}
