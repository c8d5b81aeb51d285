"""Timing helpers of the speed benchmarks: medians of interleaved calls,
and the one line that says which machine (and load) a timing holds for."""
import os
import platform
import statistics
import time
from typing import Callable, Dict, Optional

import torch


def interleaved(fns: Dict[str, Callable[[], object]],
                rounds: int,
                warmup: int = 1,
                sync: Optional[Callable[[], None]] = None
                ) -> Dict[str, float]:
    """Median seconds per call of each function, run in alternation.

    Each function is first called ``warmup`` times; then every round calls
    each function once, in turn, so that a change of machine load touches
    all of them alike.

    Args:
        fns: ``{name: function}``.
        rounds: Timed calls of each function.
        warmup: Untimed calls of each function first.
        sync: Called before and after each timed call (e.g. waiting for
            queued GPU work, so that the wall time covers it).

    Returns:
        dict: ``{name: median seconds per call}``.

    Example:
        >>> t = interleaved(dict(a=lambda: None, b=lambda: None), rounds=3)
        >>> sorted(t)
        ['a', 'b']
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            if sync is not None:
                sync()
            start = time.perf_counter()
            fn()
            if sync is not None:
                sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def machine_info(threads: int,
                 device: Optional[torch.device] = None) -> str:
    """One paragraph: CPU, cores, Python, torch, threads, load (and the GPU
    when ``device`` is a CUDA device)."""
    cpu = platform.processor() or 'unknown CPU'
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    load = ' '.join(f'{x:.2f}' for x in os.getloadavg())
    gpu = ''
    if device is not None and device.type == 'cuda':
        gpu = f', device {torch.cuda.get_device_name(device)}'
    return (f'machine: {cpu}, {os.cpu_count()} CPUs, Python '
            f'{platform.python_version()}, torch {torch.__version__}, '
            f'torch threads {threads}, load average {load}{gpu}')
