"""Keep the memory of large output buffers in the process between frames (glibc's malloc).

Every frame builds buffers of several MB for its messages (a 1280x720 point cloud with colour is
29.5 MB) and frees them after publishing. By default glibc's malloc serves such sizes with fresh
``mmap`` pages and gives them back when freed (or trims them off its heap), so the next frame
touches new pages and takes a page fault per 4 KB (21 569 per frame at 1280x720,
``test/ros/test_allocator.py``). Measured on a 2-core VM at 1280x720: building a frame's cloud and
three images took 19-22 ms and serializing them 35-40 ms, against 10-11 and 7 ms with freed memory
kept (two runs each); in ``stereo_depth_benchmark --sections speed`` the node default's packing and
serializing went from 23.4 + 30.1 ms to 15.5 + 8.5 ms (640x480: 6.1 + 2.9 ms, no change measured).

The cost: the process keeps up to ``TRIM_THRESHOLD_BYTES`` of freed memory mapped (its RSS stays
near its peak instead of dropping between frames).
"""

from __future__ import annotations

import ctypes
import logging
from typing import Final

__all__ = ["MMAP_THRESHOLD_BYTES", "TRIM_THRESHOLD_BYTES", "keep_freed_buffers"]

_LOG = logging.getLogger(__name__)

#: Requests up to this size come from malloc's heap instead of their own mmap (glibc's largest allowed
#: value on 64-bit systems; larger requests keep their own mapping).
MMAP_THRESHOLD_BYTES: Final = 32 * 1024 * 1024
#: Free memory at the top of the heap is given back to the system only beyond this.
TRIM_THRESHOLD_BYTES: Final = 256 * 1024 * 1024
# mallopt parameter numbers (glibc's malloc.h)
_M_TRIM_THRESHOLD: Final = -1
_M_MMAP_THRESHOLD: Final = -3


def keep_freed_buffers() -> bool:
    """Set both thresholds in this process's malloc; True when it took them.

    False (and nothing changed, logged at debug level) where the C library has no ``mallopt`` or
    rejects a value, e.g. musl or macOS: outputs are then built as before, only slower at large sizes.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        _LOG.debug("no mallopt in this C library: freed output buffers go back to the system")
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    taken = all(mallopt(parameter, value) == 1 for parameter, value in (
        (_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)))
    if not taken:
        _LOG.debug("mallopt rejected the thresholds: freed output buffers go back to the system")
    return taken
