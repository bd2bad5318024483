"""Process-level settings that make training faster on the CPU; called once at the start of a command.

``tune_malloc()`` raises glibc's malloc thresholds so that large transient tensors (the word LM's logits and
their gradients, ~28 MB each per step, and LSTM workspaces) are served from the heap and reused, instead of
being mapped fresh with ``mmap`` and unmapped on every free.  Without it glibc's dynamic mmap threshold
(at most 32 MB on 64-bit) keeps handing back and re-faulting those pages: on the word LM that was 7.6 s of
kernel time per 1000 steps and about 40% of throughput.  The cost is memory: up to ``trim_threshold`` of
freed heap is kept by the process rather than returned to the system.

It is the same as exporting ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` and ``MALLOC_TOP_PAD_`` before
start; if the user has exported any of those, their choice is kept and nothing is changed.  On other C
libraries (musl, macOS, Windows) it does nothing and returns False.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3  # glibc <malloc.h>
_ENV_KEYS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")
_applied = False


def tune_malloc(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30, top_pad: int = 256 << 20) -> bool:
    """Raise glibc's mmap/trim thresholds for this process; True if they are in effect afterwards."""
    global _applied
    if _applied:
        return True
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(k in os.environ for k in _ENV_KEYS):
        return False  # the user tuned malloc through the environment; leave it
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = all(
        mallopt(param, value) == 1
        for param, value in (
            (_M_MMAP_THRESHOLD, mmap_threshold),
            (_M_TRIM_THRESHOLD, trim_threshold),
            (_M_TOP_PAD, top_pad),
        )
    )
    _applied = ok
    return ok


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX-512 BF16 or AMX).  Without them oneDNN emulates bf16 and
    CPU autocast is several times *slower* than float32 (measured 10x on a 2-core AVX2 machine), and its LSTM
    kernels refuse bf16 altogether."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "")
        return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))
    except OSError:  # not Linux: trust PyTorch's own dispatch level
        import torch

        return torch.backends.cpu.get_cpu_capability() not in ("DEFAULT", "AVX2", "NO AVX")
