"""The optimisation noise of a stage-1 task model, from a second seed.

The noise of the measured mismatch ``delta = theta_A - theta_B`` has a
sampling part, the asymptotic ``(v_A/h_A^2 + v_B/h_B^2 - 2k/(h_A h_B))/N``
of :func:`~.proxy.mismatch_noise`, and an optimisation part that SGD,
augmentation and early stopping add (PROXY_SPEC section 4). Two stage-1
runs of the same task on the same data with different seeds estimate the
optimisation part alone, per parameter slot, as ``0.5 (theta^(1) -
theta^(2))^2``. :func:`add_sgd_noise` writes it into a copy of the task's
statistics file (its optional ``sgd_noise`` entry); the proxy adds it,
summed over the two tasks, to the noise it subtracts from ``delta^2``, and
the per-layer diagnosis (``search.json``'s ``per_layer_mismatch``) reports
it beside the asymptotic noise.

Usage: ``tools/osdtw_sgd_noise.py`` (or the converged benchmark's
``search_sgd-noise`` job).
"""
from dataclasses import replace
from typing import Dict

import torch

from .assemble import load_state_dict
from .fisher import TaskStats


def sgd_noise_between(params: Dict[str, torch.Tensor],
                      other: Dict[str, torch.Tensor],
                      source: str = 'the second run') -> Dict[str, torch.Tensor]:
    """``0.5 (a - b)^2`` per tensor of ``params``.

    Args:
        params (dict): ``{name: Tensor}`` of the first run (the statistics
            file's ``params``).
        other (dict): ``{name: Tensor}`` of the second run (a state dict;
            its other entries, such as buffers, are ignored).
        source (str): What ``other`` is, for the error messages.

    Returns:
        dict: ``{name: float32 Tensor}`` for every name of ``params``.

    Raises:
        ValueError: If ``other`` misses a tensor or has another shape.
    """
    out = {}
    for name, first in params.items():
        if name not in other:
            raise ValueError(f'{source} has no tensor {name!r} (is it a '
                             'checkpoint of the same task model?)')
        second = other[name]
        if tuple(second.shape) != tuple(first.shape):
            raise ValueError(f'{source}: {name!r} has shape '
                             f'{tuple(second.shape)}, the statistics file '
                             f'has {tuple(first.shape)}')
        diff = first.detach().double() - second.detach().double().cpu()
        out[name] = (0.5 * diff.square()).float()
    return out


def add_sgd_noise(stats_path: str, task: str, checkpoint: str,
                  out_path: str) -> Dict[str, torch.Tensor]:
    """Write ``stats_path`` with ``sgd_noise`` from a second seed.

    Args:
        stats_path (str): The task's ``fisher_<task>.pth`` (first run).
        task (str): ``'head'`` or ``'tail'``.
        checkpoint (str): The checkpoint of a second stage-1 run of the same
            task (same data and recipe, another seed).
        out_path (str): Where the statistics with ``sgd_noise`` go (written
            atomically; may be ``stats_path``).

    Returns:
        dict: The ``sgd_noise`` tensors written.

    Raises:
        ValueError: If the checkpoint does not hold the task model of the
            statistics file, or holds the very same parameters (the same
            run twice: no noise to measure).
    """
    stats = TaskStats.load(stats_path, task)
    state, meta = load_state_dict(checkpoint)
    noise = sgd_noise_between(stats.params, state, checkpoint)
    if all(not t.any() for t in noise.values()):
        raise ValueError(f'{checkpoint} holds the same parameters as '
                         f'{stats_path}: give the checkpoint of a run with '
                         'another seed')
    source = dict(checkpoint=checkpoint, seed=meta.get('seed'))
    meta = dict(stats.meta, sgd_noise_from=source)
    replace(stats, sgd_noise=noise, meta=meta).save(out_path)
    return noise
