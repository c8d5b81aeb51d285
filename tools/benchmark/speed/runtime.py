"""Where the speed benchmarks run (``--device``) and how they are timed.

:data:`DEVICE` is set once by the command line (:func:`set_device`) and
read by every benchmark when it runs.
"""
from typing import Callable, Dict

import torch

from ..common import timing

#: Where items 1, 3 and 4 run (``--device``); item 2 is CPU tensor math and
#: item 5 runs ``tools/train.py``, which uses a GPU when there is one.
DEVICE = torch.device('cpu')


def set_device(name: str) -> torch.device:
    """Make ``name`` (``'cpu'``, ``'cuda'``, ...) the benchmarks' device."""
    global DEVICE
    DEVICE = torch.device(name)
    return DEVICE


def sync() -> None:
    """Wait for queued GPU work, so that wall time covers it."""
    if DEVICE.type == 'cuda':
        torch.cuda.synchronize(DEVICE)


def interleaved(fns: Dict[str, Callable[[], object]],
                rounds: int,
                warmup: int = 1) -> Dict[str, float]:
    """Median seconds per call of each function, run in alternation
    (:func:`~tools.benchmark.common.timing.interleaved`, with :func:`sync`
    around each call)."""
    return timing.interleaved(fns, rounds, warmup, sync=sync)


def machine_info(threads: int) -> str:
    """The machine line (:func:`~tools.benchmark.common.timing.
    machine_info`) with this device."""
    return timing.machine_info(threads, DEVICE)


def header(title: str) -> None:
    print(f'\n== {title} ==', flush=True)
