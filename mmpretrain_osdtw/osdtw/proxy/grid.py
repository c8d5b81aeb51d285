"""The grid driver: one pass over the tensors, then ``P(C, w_A)``.

:func:`proxy_grid` validates the statistics, finds the zero-Fisher
thresholds, accumulates per-layer costs with the chosen method
(:mod:`.costs` or :mod:`.expansion`) and assembles the grid by cumulative
sums over the layers.
"""
import time
from typing import Iterable, List, Optional, Tuple

import torch
from torch import Tensor

from .costs import DEFAULT_CHUNK_BYTES, _chunk_size, _exact_chunk
from .expansion import (EXPANSION_BIN_WIDTH, EXPANSION_ORDER, _expansion_chunk,
                        _expansion_chunk_size, _MomentSums)
from .thresholds import ZERO_FISHER_REL, _thresholds
from .types import _DTYPE, ProxyGrid, TaskPairStats, WGrid
from .validation import _check_scalars, _check_w_grid, validate_stats

METHODS = ('auto', 'exact', 'expansion')
#: ``method='auto'`` expands from this many ``slots x |W|`` evaluations on.
AUTO_EXPANSION_WORK = 2**24


def proxy_grid(stats: Iterable[TaskPairStats],
               num_layers: int,
               num_samples: float,
               w_grid: Optional[WGrid] = None,
               variant: str = 'full',
               mismatch: str = 'debiased',
               zero_rel: float = ZERO_FISHER_REL,
               zero_thresholds: Optional[Tuple[float, float]] = None,
               max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
               method: str = 'auto') -> ProxyGrid:
    """Evaluate ``P(C, w_A)`` for ``C = 0..L`` and every ``w_A`` of the grid.

    One pass over the tensors accumulates, per layer ``l`` and weight ``w``,
    the encoder variance ``TV[l, w]`` and bias ``TB[l, w]`` of its slots and
    their decoder variance ``TU[l]``; then ``P[0] = U`` and
    ``P[C] = U + cumsum_{l <= C}(TV + TB - TU)``. Cost
    ``O(#params * |W|)``, memory bounded by ``max_chunk_bytes``.

    Args:
        stats (Iterable[TaskPairStats]): One entry per parameter tensor
            (iterated twice: thresholds, then costs).
        num_layers (int): ``L``, the number of body layers.
        num_samples (float): ``N``, the training-set size both tasks use.
        w_grid (Tensor | Sequence[float], optional): Increasing ``w_A``
            values in ``[0, 1]``. Defaults to ``0, 0.01, ..., 1``.
        variant (str): ``'full'`` (default) or ``'paper'`` (``v = h, k = 0``).
        mismatch (str): ``'debiased'`` (default), ``'debiased-positive'``
            or ``'raw'`` (see the module docs).
        zero_rel (float): Relative zero-Fisher threshold (1e-8).
        zero_thresholds (tuple[float, float], optional): Absolute thresholds
            ``(task A, task B)``; skips the median pre-pass.
        max_chunk_bytes (int): Budget of the ``(chunk x W)`` temporaries.
        method (str): ``'exact'`` (every ``e_j(w)`` evaluated, ``O(#params
            * |W|)``), ``'expansion'`` (one ``O(#params)`` pass into
            per-layer moments, see the module docs) or ``'auto'`` (default:
            ``'expansion'`` from :data:`AUTO_EXPANSION_WORK` slot-weight
            pairs on, else ``'exact'``).

    Returns:
        ProxyGrid: The grid and its three components.

    Raises:
        ValueError: On invalid inputs; the message names the tensor and the
            field (see :func:`validate_stats`).
    """
    _check_scalars(num_layers, num_samples, variant, mismatch)
    if method not in METHODS:
        raise ValueError(f'method must be one of {METHODS}, got {method!r}')
    w = _check_w_grid(w_grid)
    stats = list(stats)
    if not stats:
        raise ValueError('proxy_grid got no parameter statistics')
    clock = [time.perf_counter()]
    timings = {}

    def lap(phase: str) -> None:
        now = time.perf_counter()
        timings[phase] = now - clock[0]
        clock[0] = now

    _check_entries(stats, num_layers)
    lap('validate')
    zero_a, zero_b = _thresholds(stats, zero_rel, zero_thresholds)
    lap('thresholds')
    if method == 'auto':
        work = sum(s.numel() for s in stats) * w.numel()
        method = 'expansion' if work >= AUTO_EXPANSION_WORK else 'exact'
    sums = _MomentSums(EXPANSION_BIN_WIDTH, EXPANSION_ORDER) \
        if method == 'expansion' else None
    t_var, t_bias, t_u, diag = _cost_pass(stats, num_layers, num_samples, w,
                                          variant, mismatch, zero_a, zero_b,
                                          max_chunk_bytes, sums)
    diag['method'] = method
    lap('pass')
    if sums is not None:
        var, bias = sums.evaluate(num_layers + 1, w)
        t_var += var
        t_bias += bias
        finite = torch.isfinite(var).all(1) & torch.isfinite(bias).all(1)
        if not finite.all():
            layer = int((~finite).nonzero()[0])
            raise ValueError(f'layer {layer}: the proxy overflowed '
                             '(non-finite cost); check for tiny nonzero '
                             'Fisher values')
    lap('evaluate')
    grid = _assemble_grid(t_var, t_bias, t_u, w, num_layers, num_samples,
                          variant, mismatch, diag)
    grid.argmin()
    lap('grid')
    grid.timings = timings
    return grid


def _check_entries(stats: List[TaskPairStats], num_layers: int) -> None:
    """Type, unique name and :func:`validate_stats` of every entry."""
    names = set()
    for s in stats:
        if not isinstance(s, TaskPairStats):
            raise TypeError('proxy_grid expects TaskPairStats entries, got '
                            f'{type(s).__name__}')
        if s.name in names:
            raise ValueError(f'{s.name}: parameter name given twice')
        names.add(s.name)
        validate_stats(s, num_layers)


def _cost_pass(stats: List[TaskPairStats], num_layers: int, num_samples: float,
               w: Tensor, variant: str, mismatch: str, zero_a: float,
               zero_b: float, max_chunk_bytes: int,
               sums: Optional[_MomentSums]) -> Tuple[Tensor, ...]:
    """The pass over the chunks of every tensor.

    Returns:
        tuple: Per layer ``(rows, W)`` encoder variance and bias and
        ``(rows,)`` decoder variance of the exactly evaluated slots (the
        expanded ones went into ``sums``), and the diagnostics dict.
    """
    rows = num_layers + 1
    t_var = torch.zeros(rows, w.numel(), dtype=_DTYPE)
    t_bias = torch.zeros_like(t_var)
    t_u = torch.zeros(rows, dtype=_DTYPE)
    diag = dict(
        num_params=0,
        num_tensors=len(stats),
        zero_both=0,
        zero_one_side=0,
        negative_d2=0,
        zero_thresholds=[zero_a, zero_b],
        params_per_layer=[0] * rows)
    if sums is not None:
        step = _expansion_chunk_size(max_chunk_bytes)
    else:
        step = _chunk_size(w.numel(), max_chunk_bytes)
    for s in stats:
        n = s.numel()
        for start in range(0, n, step):
            sl = slice(start, start + step)
            if sums is None:
                cost, counts = _exact_chunk(s, sl, variant, mismatch,
                                            num_samples, w, zero_a, zero_b)
            else:
                cost, counts = _expansion_chunk(s, sl, variant, mismatch,
                                                num_samples, w, zero_a, zero_b,
                                                sums)
            t_var[s.layer] += cost.shared_var
            t_bias[s.layer] += cost.shared_bias
            t_u[s.layer] += cost.unshared
            for key, count in zip(
                ('zero_both', 'zero_one_side', 'negative_d2'), counts):
                diag[key] += count
        diag['num_params'] += n
        diag['params_per_layer'][s.layer] += n
        if not (torch.isfinite(t_var[s.layer]).all() and torch.isfinite(
                t_bias[s.layer]).all() and torch.isfinite(t_u[s.layer])):
            raise ValueError(f'{s.name}: the proxy overflowed (non-finite '
                             'cost); check for tiny nonzero Fisher values')
    return t_var, t_bias, t_u, diag


def _assemble_grid(t_var: Tensor, t_bias: Tensor, t_u: Tensor, w: Tensor,
                   num_layers: int, num_samples: float, variant: str,
                   mismatch: str, diag: dict) -> ProxyGrid:
    """Cumulative sums over layers -> ``P`` and its components."""
    if mismatch == 'debiased-positive':
        t_bias = t_bias.clamp(min=0.0)
    total_u = t_u.sum()
    zero_row = torch.zeros(1, w.numel(), dtype=_DTYPE)
    enc_var = torch.cat([zero_row, t_var[1:].cumsum(0)])
    enc_bias = torch.cat([zero_row, t_bias[1:].cumsum(0)])
    shared_u = torch.cat([t_u.new_zeros(1), t_u[1:].cumsum(0)])
    dec_var = (total_u - shared_u)[:, None].expand_as(enc_var).clone()
    excess = t_var[1:] + t_bias[1:] - t_u[1:, None]
    proxy = torch.cat([zero_row, excess.cumsum(0)]) + total_u
    return ProxyGrid(proxy, enc_var, enc_bias, dec_var, w, num_layers,
                     float(num_samples), variant, mismatch, diag)
