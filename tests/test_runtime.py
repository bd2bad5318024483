"""The malloc helper: applied once on Linux/glibc, a harmless False elsewhere or when the user set MALLOC_*."""
import platform

import pytest

from seqtune.training import runtime


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(runtime, "_applied", False)


def test_noop_on_other_systems(monkeypatch):
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    assert runtime.tune_malloc() is False


def test_noop_on_other_c_libraries(monkeypatch):
    monkeypatch.setattr(platform, "libc_ver", lambda *a, **k: ("musl", "1.2"))
    assert runtime.tune_malloc() is False


def test_user_environment_wins(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert runtime.tune_malloc() is False


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_applies_on_glibc(monkeypatch):
    for k in runtime._ENV_KEYS:
        monkeypatch.delenv(k, raising=False)
    assert runtime.tune_malloc() is True
    assert runtime.tune_malloc() is True  # idempotent
