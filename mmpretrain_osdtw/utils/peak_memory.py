"""Peak memory of one part of a process (one pipeline step).

The process's peak resident set size only grows (``ru_maxrss``), so it
cannot tell the steps of one pipeline process apart. On Linux, writing
``5`` to ``/proc/self/clear_refs`` resets the high-water mark that
``/proc/self/status`` reports as ``VmHWM``; CUDA has
``torch.cuda.reset_peak_memory_stats``. Elsewhere the CPU figure stays the
process's peak so far, and says so.
"""
import re
import resource
import sys
from typing import Dict, Optional

import torch

_STATUS = '/proc/self/status'
_CLEAR_REFS = '/proc/self/clear_refs'


def reset_peak_memory() -> bool:
    """Start a new peak-memory interval (CPU high-water mark and CUDA peak).

    Returns:
        bool: Whether the CPU figure was reset (False where the platform
        keeps only the process's peak).
    """
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.reset_peak_memory_stats()
    try:
        with open(_CLEAR_REFS, 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def _rss_high_water_mb() -> Optional[float]:
    """``VmHWM`` of ``/proc/self/status`` in MiB (None where absent)."""
    try:
        with open(_STATUS) as f:
            found = re.search(r'^VmHWM:\s+(\d+)\s+kB', f.read(), re.M)
    except OSError:
        return None
    return int(found.group(1)) / 1024 if found else None


def peak_memory_mb() -> Dict[str, Optional[float]]:
    """Peak memory since :func:`reset_peak_memory` (or process start).

    Returns:
        dict: ``rss`` (peak resident set size, MiB; the process's peak so
        far where it cannot be reset) and ``cuda`` (peak CUDA memory
        allocated by torch, MiB; None without an initialised GPU).
    """
    rss = _rss_high_water_mb()
    if rss is None:  # macOS reports bytes, Linux kB
        scale = 2**20 if sys.platform == 'darwin' else 2**10
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale
    cuda = None
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = torch.cuda.max_memory_allocated() / 2**20
    return dict(rss=round(rss, 1), cuda=None if cuda is None else round(
        cuda, 1))
