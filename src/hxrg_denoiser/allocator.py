"""Keep freed memory in the process instead of returning it to the system at once (glibc only).

By default glibc serves every allocation above a few MB with a fresh ``mmap``
and unmaps it on free, so a loop that makes and frees arrays of hundreds of MB
(the benchmark: a simulated cube, its fits, its features, per case) touches
every page anew each time: on a bench-v2 case about 9 million page faults and
a third of the CPU time spent in the kernel. Raising the mmap and trim
thresholds lets freed blocks be reused; peak memory rises by about 10 %.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

__all__ = ["retain_freed_memory", "available_memory"]

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def retain_freed_memory(mmap_threshold: int = 1 << 30, trim_threshold: int = (1 << 31) - 1) -> bool:
    """Ask glibc to serve allocations below ``mmap_threshold`` bytes from its heap and to keep freed memory.

    Returns whether the settings were taken (False off Linux or with another C library); the
    results of any computation are unchanged, only where memory comes from.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    taken = all([mallopt(_M_MMAP_THRESHOLD, mmap_threshold), mallopt(_M_TRIM_THRESHOLD, trim_threshold),
                 mallopt(_M_TOP_PAD, 1 << 28)])
    log.debug("glibc malloc thresholds raised: %s", taken)
    return bool(taken)


def available_memory() -> int | None:
    """Bytes of memory a new allocation can get without swapping (Linux ``MemAvailable``, else the physical
    memory); None when unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
