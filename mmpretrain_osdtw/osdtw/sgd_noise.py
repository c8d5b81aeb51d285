"""The optimisation noise of a stage-1 task model, from a second seed.

The noise of the measured mismatch ``delta = theta_A - theta_B`` has a
sampling part, the asymptotic ``(v_A/h_A^2 + v_B/h_B^2 - 2k/(h_A h_B))/N``
of :func:`~.proxy.mismatch_noise`, and an optimisation part that SGD,
augmentation and early stopping add (proxy.md section 4). Two stage-1
runs of the same task on the same data with different seeds estimate the
optimisation part alone, per parameter slot, as ``0.5 (theta^(1) -
theta^(2))^2``. :func:`add_sgd_noise` writes it into a copy of the task's
statistics file (its optional ``sgd_noise`` entry); the proxy adds it,
summed over the two tasks, to the noise it subtracts from ``delta^2``, and
the per-layer diagnosis (``search.json``'s ``per_layer_mismatch``) reports
it beside the asymptotic noise.

Without a second seed, :func:`add_displacement_noise` writes a single-run
bound instead: ``(theta - theta_0)^2``, each task model's displacement from
the initialisation both stage-1 models share (the MGP checkpoint). If a
run's displacement is a drift common to every seed plus a seed-dependent
part, the expected seed-to-seed noise ``0.5 E(theta^(1) - theta^(2))^2`` is
the variance of that part, which the displacement's second moment bounds
from above (equal when the run moves by noise alone). Calibrating the
proxy's noise scale on it (``noise_scale='sgd'`` of the search) therefore
overstates the noise, so it shares at least as much as the two-seed
calibration would (docs/en/advanced_guides/proxy.md, section 8). Tensors
the initialisation does not have (the task's head) get 0: the calibration
reads the body layers only.

Usage: ``tools/osdtw_sgd_noise.py`` (or the converged benchmark's
``search_sgd-noise`` job), ``--from-init`` for the displacement bound.
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


def displacement_noise(params: Dict[str, torch.Tensor],
                       init: Dict[str, torch.Tensor],
                       source: str = 'the initialisation'
                       ) -> Dict[str, torch.Tensor]:
    """``(theta - theta_0)^2`` per tensor of ``params`` whose name the
    initialisation ``init`` has (``backbone.*`` only: an MGP checkpoint's
    other parts are MAE's decoder); 0 for the others.

    Raises:
        ValueError: If a shared name has another shape, or no tensor of
            ``params`` is in ``init``.
    """
    out, found = {}, 0
    for name, value in params.items():
        start = init.get(name) if name.startswith('backbone.') else None
        if start is None:
            out[name] = torch.zeros_like(value, dtype=torch.float32)
            continue
        if tuple(start.shape) != tuple(value.shape):
            raise ValueError(f'{source}: {name!r} has shape '
                             f'{tuple(start.shape)}, the statistics file '
                             f'has {tuple(value.shape)}')
        found += 1
        diff = value.detach().double() - start.detach().double().cpu()
        out[name] = diff.square().float()
    if not found:
        raise ValueError(f'{source} holds none of the backbone tensors of '
                         'the statistics file (is it the checkpoint the '
                         'stage-1 models started from?)')
    return out


def add_displacement_noise(stats_path: str, task: str, init_checkpoint: str,
                           out_path: str) -> Dict[str, torch.Tensor]:
    """Write ``stats_path`` with ``sgd_noise`` = the single-run bound
    ``(theta - theta_0)^2`` (see the module docstring).

    Args:
        stats_path (str): The task's ``fisher_<task>.pth``.
        task (str): ``'head'`` or ``'tail'``.
        init_checkpoint (str): The checkpoint both stage-1 models started
            from (the MGP checkpoint).
        out_path (str): Where the statistics go (written atomically).

    Returns:
        dict: The ``sgd_noise`` tensors written.
    """
    stats = TaskStats.load(stats_path, task)
    state, _ = load_state_dict(init_checkpoint)
    noise = displacement_noise(stats.params, state, init_checkpoint)
    meta = dict(stats.meta,
                sgd_noise_from=dict(displacement_from=init_checkpoint))
    replace(stats, sgd_noise=noise, meta=meta).save(out_path)
    return noise
