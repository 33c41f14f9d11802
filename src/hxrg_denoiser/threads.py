"""Work split over the processor's cores: numpy's large array operations release the GIL, so blocks of
pixels processed in threads run side by side.

:func:`compute_threads` is how many (the CPUs this process may use, at most :data:`MAX_THREADS`; the
environment variable ``HXRG_THREADS`` sets it, 1 for none); :func:`map_blocks` maps a function over
blocks in that many threads and returns the results in order, so that results do not depend on it;
:func:`run_compiled` runs a numba kernel in that many of numba's threads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["compute_threads", "map_blocks", "run_compiled", "MAX_THREADS"]

MAX_THREADS = 8
T = TypeVar("T")
R = TypeVar("R")


def compute_threads() -> int:
    """Threads for array work: ``HXRG_THREADS`` if set (an integer >= 1), else the CPUs this process may
    run on, at most :data:`MAX_THREADS`."""
    given = os.environ.get("HXRG_THREADS", "").strip()
    if given.isdigit() and int(given) >= 1:
        return int(given)
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return max(1, min(available, MAX_THREADS))


def map_blocks(function: Callable[[T], R], blocks: Sequence[T], threads: int | None = None) -> list[R]:
    """``[function(b) for b in blocks]``, computed in up to ``threads`` threads (default
    :func:`compute_threads`); the first error is raised, as in the loop."""
    threads = min(compute_threads() if threads is None else threads, len(blocks))
    if threads <= 1:
        return [function(block) for block in blocks]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hxrg-compute") as pool:
        return list(pool.map(function, blocks))


_COMPILED_LOCK = threading.Lock()


def run_compiled(kernel: Callable[..., R], *arguments) -> R:
    """``kernel(*arguments)``, a function compiled by numba with ``parallel=True``, in :func:`compute_threads` of
    numba's threads; one caller at a time (numba's default thread pool takes no more)."""
    import numba

    with _COMPILED_LOCK:
        numba.set_num_threads(min(compute_threads(), numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
        return kernel(*arguments)
