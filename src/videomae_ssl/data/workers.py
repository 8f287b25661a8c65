"""Set-up for DataLoader worker processes.

Each clip allocates a few large buffers (decoded frames, the float32 clip: 9.6 MB at 16 x 224^2).
By default glibc returns such blocks to the kernel when they are freed, so the next clip's
buffers are fresh mappings and every page faults on first touch: on a 2-core Xeon this made
normalisation take twice as long after a decord decode (benchmarks/RESULTS.md). Raising glibc's
mmap and trim thresholds keeps freed memory in the worker for reuse, at the price of up to that
much resident memory per worker.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameter numbers from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_memory(mmap_threshold: int = 64 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Ask glibc to serve blocks below `mmap_threshold` bytes from the heap and to keep up to
    `trim_threshold` bytes of freed heap. Returns False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        mallopt(_M_TRIM_THRESHOLD, trim_threshold)
    )


def worker_init(worker_id: int) -> None:
    """`DataLoader(worker_init_fn=...)`: tune the allocator of each worker process."""
    keep_freed_memory()
