"""Zero Fisher: which slots count as zero, and the thresholds that say so.

A value ``h <= ZERO_FISHER_REL * median`` counts as zero, where the median
is the exact lower median of the *nonzero* ``h`` of that task over the whole
model (:func:`zero_fisher_threshold`, found by selection with
:func:`kth_positive`).
"""
import math
from typing import Iterable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .types import _DTYPE, TaskPairStats

#: Values ``h <= ZERO_FISHER_REL * median(nonzero h)`` count as zero.
ZERO_FISHER_REL = 1e-8
#: Up to this many nonzero values the zero-Fisher median is exact (i.e.
#: always, by default; a smaller value switches to a histogram estimate).
EXACT_MEDIAN_LIMIT = 2**62


def zero_fisher_threshold(tensors: Iterable[Tensor],
                          rel: float = ZERO_FISHER_REL,
                          exact_limit: int = EXACT_MEDIAN_LIMIT,
                          bins: int = 4096) -> Optional[float]:
    """``rel`` times the median of the nonzero entries of ``tensors``.

    The median is the exact lower median (the ``ceil(n / 2)``-th smallest of
    the ``n`` positive entries) when ``n <= exact_limit`` (by default always):
    it is found by selection (:func:`kth_positive`), a few ``O(n)`` passes
    without sorting or copying all values. Above ``exact_limit`` it is read
    off a ``bins``-bin histogram of ``log h`` instead (the relative error is
    at most half a bin, e.g. under 1% for a range of 1e-30..1e3).

    Args:
        tensors (Iterable[Tensor]): The Fisher tensors of one task.
        rel (float): The relative threshold. Defaults to 1e-8.
        exact_limit (int): Largest count for the exact median.
        bins (int): Histogram bins of the approximate median.

    Returns:
        float | None: The threshold, or ``None`` if every entry is zero.

    Example:
        >>> zero_fisher_threshold([torch.tensor([0., 1., 2., 3.])], rel=0.5)
        1.0
    """
    tensors = _flat_pieces(tensors)
    count = sum(int((t > 0).sum()) for t in tensors)
    if count == 0:
        return None
    if count <= exact_limit:
        return rel * kth_positive(tensors, (count + 1) // 2, count)
    lo, hi = math.inf, -math.inf
    for t in tensors:
        pos = t[t > 0]
        if pos.numel():
            logs = pos.to(_DTYPE).log()
            lo, hi = min(lo, float(logs.min())), max(hi, float(logs.max()))
    if hi <= lo:
        return rel * math.exp(lo)
    hist = torch.zeros(bins, dtype=_DTYPE)
    for t in tensors:
        pos = t[t > 0]
        if pos.numel():
            hist += torch.histc(
                pos.to(_DTYPE).log(), bins=bins, min=lo, max=hi)
    rank = (count + 1) // 2  # the lower median is the rank-th smallest
    idx = int(torch.searchsorted(hist.cumsum(0), float(rank)))
    width = (hi - lo) / bins
    return rel * math.exp(lo + (min(idx, bins - 1) + 0.5) * width)


#: Pieces of this many values keep the selection passes in cache.
SELECT_PIECE = 2**18


def _flat_pieces(tensors: Iterable[Tensor]) -> List[Tensor]:
    """Flattened views of the tensors, cut into cache-sized pieces."""
    return [
        piece for t in tensors for piece in t.reshape(-1).split(SELECT_PIECE)
    ]


#: Up to this many positive values :func:`kth_positive` selects directly.
SELECT_DIRECT_LIMIT = 2**20
#: Sample size of the bracketing step of :func:`kth_positive`.
SELECT_SAMPLE = 2**16


def kth_positive(tensors: Sequence[Tensor],
                 rank: int,
                 count: Optional[int] = None) -> float:
    """The ``rank``-th smallest positive entry of ``tensors``, exactly.

    Small inputs are gathered and selected with ``kthvalue``. Large ones
    (more than :data:`SELECT_DIRECT_LIMIT` positive values) are bracketed
    first: a fixed-seed random sample gives two values ``lo <= hi`` whose
    ranks surround ``rank`` with overwhelming probability; one pass counts
    the positive values below ``lo`` and collects those in ``[lo, hi]``,
    and the answer is selected among the collected ones. If the bracket
    misses (or the sample is degenerate), the direct selection runs, so the
    result is always exact.

    Args:
        tensors (Sequence[Tensor]): Tensors of any real dtype.
        rank (int): 1-based rank among the positive entries.
        count (int, optional): Number of positive entries, if known.

    Returns:
        float: The selected value.

    Example:
        >>> kth_positive([torch.tensor([0., 3., 1.]), torch.tensor([2.])], 2)
        2.0
    """
    tensors = _flat_pieces(tensors)
    if count is None:
        count = sum(int((t > 0).sum()) for t in tensors)
    if not 1 <= rank <= count:
        raise ValueError(f'rank {rank} is outside 1..{count} (the number of '
                         'positive entries)')
    if count > SELECT_DIRECT_LIMIT:
        bracket = _sample_bracket(tensors, rank / count)
        if bracket is not None:
            lo, hi = bracket
            below = sum(int(((t > 0) & (t < lo)).sum()) for t in tensors)
            inside = torch.cat([t[(t >= lo) & (t <= hi)] for t in tensors])
            if below < rank <= below + inside.numel():
                return float(inside.kthvalue(rank - below).values)
    values = torch.cat([t[t > 0] for t in tensors])
    return float(values.kthvalue(rank).values)


def _sample_bracket(tensors: Sequence[Tensor],
                    quantile: float) -> Optional[Tuple[float, float]]:
    """Values around the ``quantile`` of the positive entries (a sample)."""
    gen = torch.Generator().manual_seed(0)
    total = sum(t.numel() for t in tensors)
    parts = []
    for t in tensors:
        size = math.ceil(SELECT_SAMPLE * t.numel() / total)
        parts.append(t[torch.randint(t.numel(), (size, ), generator=gen)])
    sample = torch.cat(parts)
    sample = sample[sample > 0].sort().values
    m = sample.numel()
    if m < 1024:
        return None
    # 8 binomial standard deviations of the sample rank, plus slack
    margin = 8.0 * math.sqrt(quantile * (1.0 - quantile) / m) + 4.0 / m
    lo_idx = math.floor((quantile - margin) * m)
    hi_idx = math.ceil((quantile + margin) * m)
    if lo_idx < 0 or hi_idx >= m:
        return None
    return float(sample[lo_idx]), float(sample[hi_idx])


def _zero_masks(h_a: Tensor, h_b: Tensor, zero_a: float,
                zero_b: float) -> Tuple[Tensor, Tensor]:
    """Boolean masks of the slots whose Fisher counts as zero."""
    return ~(h_a > zero_a), ~(h_b > zero_b)


def _thresholds(stats: List[TaskPairStats], rel: float,
                given: Optional[Tuple[float, float]]) -> Tuple[float, float]:
    """Zero-Fisher thresholds of both tasks (errors on an all-zero task)."""
    if given is not None:
        if len(given) != 2 or any(not math.isfinite(float(x)) or x < 0
                                  for x in given):
            raise ValueError('zero_thresholds must be two finite numbers '
                             f'>= 0, got {given!r}')
        return float(given[0]), float(given[1])
    out = []
    for key, task in (('h_a', 'A (head)'), ('h_b', 'B (tail)')):
        thr = zero_fisher_threshold([getattr(s, key) for s in stats], rel)
        if thr is None:
            raise ValueError(f'{key}: the Fisher of task {task} is zero for '
                             f'every parameter ({len(stats)} tensors); the '
                             'stage-1 statistics are empty or broken')
        out.append(thr)
    return out[0], out[1]
