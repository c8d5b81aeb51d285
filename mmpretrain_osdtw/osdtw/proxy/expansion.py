"""The ``'expansion'`` method: one ``O(#params)`` pass into moments.

With ``s_j = log(h_A / h_B)``, ``H_j(w)^2 = h_A h_B kappa(s_j, w)^-1`` where
``kappa(s, w) = (w_A e^{s/2} + w_B e^{-s/2})^-2`` depends on the slot only
through ``s_j``, so ``e_j(w) = sum_m phi_m(w) A_jm kappa(s_j, w)`` with five
per-slot coefficients ``A_jm``. The slots are binned by ``s`` (width
:data:`EXPANSION_BIN_WIDTH`), ``kappa`` is Taylor-expanded to
:data:`EXPANSION_ORDER` terms around each bin centre, the pass accumulates
per-layer, per-bin moments (:class:`_MomentSums`) and the grid is evaluated
from them once (see :mod:`mmpretrain_osdtw.osdtw.proxy` for the accuracy).
The zero-Fisher slots and those with ``|s| > EXPANSION_MAX_LOG_RATIO`` are
evaluated exactly (:mod:`.costs`).
"""
import math
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

from .costs import (_chunk_costs, _chunk_inputs, _chunk_mismatch, _chunk_part,
                    split_zero_fisher)
from .types import _DTYPE, SlotCosts, TaskPairStats

#: Bin width in ``s = log(h_A / h_B)`` of the series expansion.
EXPANSION_BIN_WIDTH = 0.25
#: Taylor terms per bin (relative kernel error below 1e-14).
EXPANSION_ORDER = 12
#: Slots with ``|log(h_A / h_B)|`` above this are evaluated exactly.
EXPANSION_MAX_LOG_RATIO = 200.0
#: Slots per chunk of the expansion pass (at most; see ``max_chunk_bytes``).
EXPANSION_CHUNK = 2**16


def _expansion_chunk_size(max_chunk_bytes: int) -> int:
    """Slots per chunk of the expansion pass (about 40 float64 per slot)."""
    return max(1, min(EXPANSION_CHUNK, int(max_chunk_bytes) // (40 * 8)))


def _kernel_taylor(s_b: Tensor, w: Tensor, order: int) -> Tensor:
    """Taylor coefficients of the kernel around the bin centres ``s_b``.

    ``kappa(s, w) = (w_A e^{s/2} + w_B e^{-s/2})^-2``, expanded in
    ``x = s - s_b``: with ``F(x) = a e^{x/2} + b e^{-x/2}`` (``a = w_A
    e^{s_b/2}``, ``b = w_B e^{-s_b/2}``), ``F_k = (a + (-1)^k b) / (2^k
    k!)``; ``G = 1/F`` by series division and ``kappa = G^2``.

    Args:
        s_b (Tensor): ``(B,)`` float64 bin centres.
        w (Tensor): ``(W,)`` float64 weights ``w_A``.
        order (int): Number of coefficients ``K``.

    Returns:
        Tensor: ``(B, W, K)`` float64, ``kappa(s_b + x) ~ sum_k c_k x^k``.
    """
    half = s_b.to(_DTYPE)[:, None] / 2
    a = w[None, :] * half.exp()
    b = (1.0 - w[None, :]) * (-half).exp()
    f = []
    for k in range(order):
        scale = 2.0**k * math.factorial(k)
        f.append((a + b if k % 2 == 0 else a - b) / scale)
    g = [f[0].reciprocal()]
    for k in range(1, order):
        acc = sum(f[i] * g[k - i] for i in range(1, k + 1))
        g.append(-acc * g[0])
    coef = [sum(g[i] * g[k - i] for i in range(k + 1)) for k in range(order)]
    return torch.stack(coef, dim=-1)


class _MomentSums:
    """Per-layer, per-bin moments ``sum_j A_jm x_j^k`` of the expansion.

    Channels ``m``: ``A_1 = v_A r``, ``A_2 = v_B r``, ``A_3 = 2 k r`` with
    ``r = (1/h_A + 1/h_B) / (2N)`` (encoder variance, multiplied by
    ``w_A^2, w_B^2, w_A w_B``) and ``A_4 = d2 h_A / 2``, ``A_5 = d2 h_B / 2``
    (encoder bias, multiplied by ``w_A^2, w_B^2``), so that ``e_j(w) =
    sum_m phi_m(w) A_jm kappa(s_j, w)`` with ``s_j = log(h_A / h_B)``.
    """

    def __init__(self, bin_width: float, order: int):
        self.bin_width = bin_width
        self.order = order
        self.sums: Dict[int, Dict[int, Tensor]] = {}

    def add(self, layer: int, bins: List[int], moments: List[Tensor]) -> None:
        """Add the ``(5, K)`` moments of some bins to a layer."""
        per_layer = self.sums.setdefault(layer, {})
        for b, m in zip(bins, moments):
            if b in per_layer:
                per_layer[b] += m
            else:
                per_layer[b] = m.clone()

    def evaluate(self, rows: int, w: Tensor) -> Tuple[Tensor, Tensor]:
        """``(shared_var, shared_bias)``, each ``(rows, W)``: the expanded
        slots of every layer ``0..rows-1``.

        All layers share one kernel evaluation at the union of their bins
        (one series division for the whole grid).
        """
        var = torch.zeros(rows, w.numel(), dtype=_DTYPE)
        bias = torch.zeros_like(var)
        keys = sorted(set().union(*self.sums.values()))
        if not keys:
            return var, bias
        index = {b: i for i, b in enumerate(keys)}
        centres = torch.tensor(keys, dtype=_DTYPE) * self.bin_width
        kernel = _kernel_taylor(centres, w, self.order)  # (B, W, K)
        # moments[layer, bin]: (rows, B, 5, K), zero where a layer has none
        moments = torch.zeros(rows, len(keys), 5, self.order, dtype=_DTYPE)
        for layer, per_layer in self.sums.items():
            for b, m in per_layer.items():
                moments[layer, index[b]] = m
        t = torch.einsum('lbmk,bwk->mlw', moments, kernel)  # (5, rows, W)
        wa2, wb2, wab = w.square(), (1.0 - w).square(), w * (1.0 - w)
        var = wa2 * t[0] + wb2 * t[1] + wab * t[2]
        bias = wa2 * t[3] + wb2 * t[4]
        return var, bias


def _expand_slots(ha: Tensor, hb: Tensor, ia: Tensor, ib: Tensor, va: Tensor,
                  vb: Tensor, k: Optional[Tensor], d2: Tensor,
                  num_samples: float, w: Tensor, sums: _MomentSums,
                  layer: int) -> SlotCosts:
    """Add the moments of nonzero-Fisher slots to ``sums`` (one pass).

    ``ia, ib = 1 / h_A, 1 / h_B``. The slots are grouped by their bin of
    ``s = log(h_A / h_B)`` (one sort of a small integer key), and each
    bin's moments are one ``(5 x n_b) @ (n_b x K)`` product. Slots with
    ``|s| > EXPANSION_MAX_LOG_RATIO`` are evaluated exactly instead; their
    summed ``e_j(w)`` is returned (``unshared`` is 0: the caller counts
    ``u_j``).
    """
    far_cost = SlotCosts(
        torch.zeros_like(w), torch.zeros_like(w), w.new_zeros(()))
    if not ha.numel():
        return far_cost
    width = sums.bin_width
    s = torch.mul(ha, ib).log_()
    bins = torch.mul(s, 1.0 / width).round_()
    lo, hi = (int(v) for v in torch.aminmax(bins))
    limit = EXPANSION_MAX_LOG_RATIO / width
    if lo < -limit or hi > limit:  # rare extreme ratios: exact, then drop
        far = bins.abs() > limit
        exact = _chunk_costs(ha[far], hb[far], va[far], vb[far],
                             None if k is None else k[far], d2[far],
                             num_samples, w, 0.0, 0.0)
        far_cost = SlotCosts(exact.shared_var, exact.shared_bias,
                             far_cost.unshared)
        near = ~far
        ha, hb, ia, ib, va, vb, d2, s, bins = (
            t[near] for t in (ha, hb, ia, ib, va, vb, d2, s, bins))
        k = None if k is None else k[near]
        if not ha.numel():
            return far_cost
        lo, hi = (int(v) for v in torch.aminmax(bins))
    # rows: x = s - bin centre, then the channels A_1..A_5
    r = torch.add(ia, ib).mul_(0.5 / num_samples)
    rows = [
        s.sub_(bins, alpha=width), va * r, vb * r,
        torch.zeros_like(r) if k is None else torch.mul(k, r).mul_(2.0),
        torch.mul(d2, ha).mul_(0.5),
        torch.mul(d2, hb).mul_(0.5)
    ]
    n = ha.numel()
    chans = torch.empty(5, n, dtype=_DTYPE)
    if hi > lo:
        key = bins.sub_(lo).to(torch.uint8 if hi - lo < 256 else torch.int32)
        counts = torch.bincount(key, minlength=hi - lo + 1).tolist()
        order = torch.sort(key).indices
        x = rows[0].index_select(0, order)
        for i, row in enumerate(rows[1:]):
            torch.index_select(row, 0, order, out=chans[i])
    else:
        counts = [n]
        x = rows[0]
        for i, row in enumerate(rows[1:]):
            chans[i].copy_(row)
    powers = torch.empty(sums.order, x.numel(), dtype=_DTYPE)
    powers[0].fill_(1.0)
    powers[1].copy_(x)
    for p in range(2, sums.order):
        torch.mul(powers[p - 1], x, out=powers[p])
    out_bins, out_moments = [], []
    start = 0
    for offset, count in enumerate(counts):
        if count:
            seg = slice(start, start + count)
            out_moments.append(chans[:, seg] @ powers[:, seg].T)
            out_bins.append(lo + offset)
            start += count
    sums.add(layer, out_bins, out_moments)
    return far_cost


def _nonzero_d2(stats: TaskPairStats, sl: slice, mismatch: str,
                num_samples: float, ia: Tensor, ib: Tensor, va: Tensor,
                vb: Tensor, k: Optional[Tensor]) -> Tensor:
    """``d2`` of a chunk whose slots are all nonzero on both sides.

    The fused in-place form of :func:`~.costs._chunk_mismatch` (no
    zero-Fisher masks); ``ia, ib = 1 / h_A, 1 / h_B``.
    """
    if stats.delta2 is None:
        d2 = _chunk_part(stats.delta, sl).square()
    else:  # a copy: d2 is updated in place below
        d2 = stats.delta2.reshape(-1)[sl].to(_DTYPE, copy=True)
    if mismatch != 'raw':
        # n_j = (v_A / h_A^2 + v_B / h_B^2 - 2 k / (h_A h_B)) / N + sgd
        noise = (va * ia).mul_(ia).addcmul_(vb * ib, ib)
        if k is not None:
            noise.addcmul_(k * ia, ib, value=-2.0)
        d2.add_(noise, alpha=-1.0 / num_samples)
        if stats.sgd_noise is not None:
            d2.sub_(_chunk_part(stats.sgd_noise, sl))
    return d2


def _expansion_chunk(
        stats: TaskPairStats, sl: slice, variant: str, mismatch: str,
        num_samples: float, w: Tensor, zero_a: float, zero_b: float,
        sums: _MomentSums) -> Tuple[SlotCosts, Tuple[int, int, int]]:
    """One chunk of the expansion pass: the both-nonzero slots go into
    ``sums``.

    Returns:
        tuple: The chunk's exact cost parts (``unshared``, the neutral
        one-sided slots and the slots :func:`_expand_slots` evaluates
        exactly) and its counts ``(zero_both, zero_one_side,
        negative_d2)``.
    """
    ha, hb, va, vb, k = _chunk_inputs(stats, sl, variant)
    split = split_zero_fisher(ha, hb, va, vb, num_samples, zero_a, zero_b)
    if split.both is None:
        ia, ib = ha.reciprocal(), hb.reciprocal()
        d2 = _nonzero_d2(stats, sl, mismatch, num_samples, ia, ib, va, vb, k)
        d2_both = d2
    else:
        d2 = _chunk_mismatch(stats, sl, mismatch, num_samples, ha, hb, va, vb,
                             k, zero_a, zero_b)
        ha, hb, va, vb, k, d2_both = split.nonzero(split.h_a, split.h_b, va,
                                                   vb, k, d2)
        ia, ib = ha.reciprocal(), hb.reciprocal()
    far = _expand_slots(ha, hb, ia, ib, va, vb, k, d2_both, num_samples, w,
                        sums, stats.layer)
    cost = SlotCosts(far.shared_var + split.neutral, far.shared_bias,
                     split.unshared)
    return cost, split.counts(d2)
