"""Slot costs: the zero-Fisher split of a chunk and its exact costs.

Every method reads the statistics in chunks of flattened tensors
(:func:`_chunk_inputs`, :func:`_chunk_mismatch`) and splits each chunk by
:func:`split_zero_fisher`, the one home of the zero-Fisher rule of the
costs: a slot with both sides zero costs nothing (``e = u = 0``), a slot
with one side zero is neutral to sharing (``e = u = v_t / (2 N h_t)`` of
its nonzero side ``t``, counted as encoder variance when shared), and
``u_j = (v_A / h_A + v_B / h_B) / (2 N)`` over the nonzero sides. The
``'exact'`` method then evaluates every ``e_j(w)`` of the remaining slots
(:func:`_nonzero_costs`); the ``'expansion'`` method expands them (see
:mod:`.expansion`).
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import Tensor

from .mismatch import mismatch_noise
from .thresholds import _zero_masks
from .types import _DTYPE, SlotCosts, TaskPairStats

#: Budget for the ``(chunk x |W|)`` temporaries of one chunk.
DEFAULT_CHUNK_BYTES = 64 * 2**20


@dataclass
class ZeroFisherSplit:
    """The slots of a chunk split by their zero-Fisher sides.

    Attributes:
        h_a (Tensor): ``h_A`` with its zero entries replaced by 1 (a safe
            divisor).
        h_b (Tensor): Same for ``h_B``.
        zero_a (Tensor): Bool mask of the slots whose ``h_A`` counts as
            zero.
        zero_b (Tensor): Same for ``h_B``.
        both (Tensor, optional): Bool mask of the slots with both sides
            nonzero; ``None`` when that is every slot.
        unshared (Tensor): 0-dim ``sum_j u_j`` (a zero side adds 0).
        neutral (Tensor): 0-dim ``sum_j u_j`` over the one-sided slots,
            whose ``e_j(w) = u_j`` for every ``w``.
    """
    h_a: Tensor
    h_b: Tensor
    zero_a: Tensor
    zero_b: Tensor
    both: Optional[Tensor]
    unshared: Tensor
    neutral: Tensor

    def nonzero(self, *tensors: Optional[Tensor]) -> Tuple:
        """The both-nonzero slots of each tensor (``None`` stays ``None``)."""
        if self.both is None:
            return tensors
        return tuple(None if t is None else t[self.both] for t in tensors)

    def counts(self, d2: Tensor) -> Tuple[int, int, int]:
        """``(zero_both, zero_one_side, negative_d2)`` of the chunk."""
        negative = int((d2 < 0).sum())
        if self.both is None:
            return 0, 0, negative
        za, zb = self.zero_a, self.zero_b
        return int((za & zb).sum()), int((za ^ zb).sum()), negative


def split_zero_fisher(h_a: Tensor, h_b: Tensor, v_a: Tensor, v_b: Tensor,
                      num_samples: float, zero_a: float,
                      zero_b: float) -> ZeroFisherSplit:
    """Split 1-D float64 slots by their zero-Fisher sides (module docs).

    Args:
        h_a, h_b (Tensor): Fisher of both tasks.
        v_a, v_b (Tensor): Score variances (``h`` where absent).
        num_samples (float): ``N``.
        zero_a, zero_b (float): Zero-Fisher thresholds (``h <=`` counts as
            zero).

    Returns:
        ZeroFisherSplit: The masks, the safe ``h`` and the
        ``w``-independent costs ``unshared`` and ``neutral``.
    """
    za, zb = _zero_masks(h_a, h_b, zero_a, zero_b)
    two_n = 2.0 * num_samples
    if not (bool(za.any()) or bool(zb.any())):
        u = (v_a / h_a + v_b / h_b) / two_n
        return ZeroFisherSplit(h_a, h_b, za, zb, None, u.sum(), u.new_zeros(
            ()))
    ha = torch.where(za, torch.ones_like(h_a), h_a)
    hb = torch.where(zb, torch.ones_like(h_b), h_b)
    ua = torch.where(za, torch.zeros_like(ha), v_a / ha)
    ub = torch.where(zb, torch.zeros_like(hb), v_b / hb)
    u = (ua + ub) / two_n
    one_sided = za ^ zb
    neutral = u[one_sided].sum() if one_sided.any() else u.new_zeros(())
    return ZeroFisherSplit(ha, hb, za, zb, ~(za | zb), u.sum(), neutral)


def _nonzero_costs(split: ZeroFisherSplit, v_a: Tensor, v_b: Tensor,
                   k: Optional[Tensor], d2: Tensor, num_samples: float,
                   w: Tensor) -> SlotCosts:
    """Exact summed costs of a split chunk for every ``w``.

    ``e_j(w) = sum_m coef[j, m] * phi_m(w) / H_j(w)^2`` with ``phi = (w_A^2,
    w_B^2, w_A w_B)``; the sum over the slots is one matrix product.
    """
    ha, hb, v_a, v_b, d2, k = split.nonzero(split.h_a, split.h_b, v_a, v_b, d2,
                                            k)
    shared_var = torch.full_like(w, float(split.neutral))
    shared_bias = torch.zeros_like(w)
    if ha.numel():
        s = (ha + hb) / (2.0 * num_samples)
        bias_scale = 0.5 * ha * hb * d2
        cross = torch.zeros_like(s) if k is None else 2.0 * s * k
        coef = torch.stack(
            [s * v_a, s * v_b, cross, bias_scale * ha, bias_scale * hb], dim=1)
        inv_h2 = torch.addr(hb[:, None], ha - hb, w)  # H_j(w)
        inv_h2.reciprocal_().square_()
        m = coef.T @ inv_h2  # (5, W)
        wa2, wb2, wab = w.square(), (1.0 - w).square(), w * (1.0 - w)
        shared_var = shared_var + wa2 * m[0] + wb2 * m[1] + wab * m[2]
        shared_bias = shared_bias + wa2 * m[3] + wb2 * m[4]
    return SlotCosts(shared_var, shared_bias, split.unshared)


def _chunk_costs(h_a: Tensor, h_b: Tensor, v_a: Tensor, v_b: Tensor,
                 k: Optional[Tensor], d2: Tensor, num_samples: float,
                 w: Tensor, zero_a: float, zero_b: float) -> SlotCosts:
    """Summed exact slot costs of one chunk of 1-D float64 inputs."""
    split = split_zero_fisher(h_a, h_b, v_a, v_b, num_samples, zero_a, zero_b)
    return _nonzero_costs(split, v_a, v_b, k, d2, num_samples, w)


def _chunk_size(num_w: int, max_chunk_bytes: int) -> int:
    """Slots per chunk so that ``(chunk x W)`` float64 temporaries fit."""
    # Up to two (chunk x W) float64 arrays are alive at a time.
    return max(1, int(max_chunk_bytes) // (2 * 8 * max(num_w, 1)))


# ------------------------------------------------------ reading a chunk
def _chunk_part(t: Optional[Tensor], sl: slice) -> Optional[Tensor]:
    """Float64 chunk ``sl`` of a flattened statistics tensor (or None)."""
    return None if t is None else t.reshape(-1)[sl].to(_DTYPE)


def _chunk_scores(stats: TaskPairStats, sl: slice, variant: str, ha: Tensor,
                  hb: Tensor) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
    """``(v_A, v_B, k)`` of a chunk: ``v := h`` where a score variance is
    absent, and ``(h_A, h_B, None)`` for the ``'paper'`` variant."""
    if variant == 'paper':
        return ha, hb, None
    va = ha if stats.v_a is None else _chunk_part(stats.v_a, sl)
    vb = hb if stats.v_b is None else _chunk_part(stats.v_b, sl)
    return va, vb, _chunk_part(stats.k, sl)


def _chunk_inputs(stats: TaskPairStats, sl: slice,
                  variant: str) -> Tuple[Tensor, ...]:
    """Float64 chunk ``(h_a, h_b, v_a, v_b, k)`` of one tensor."""
    ha, hb = _chunk_part(stats.h_a, sl), _chunk_part(stats.h_b, sl)
    return (ha, hb) + _chunk_scores(stats, sl, variant, ha, hb)


def _chunk_raw_d2(stats: TaskPairStats, sl: slice) -> Tensor:
    """Float64 chunk of the measured squared mismatch: ``delta2`` as given,
    else ``delta ** 2``."""
    raw = _chunk_part(stats.delta2, sl)
    return _chunk_part(stats.delta, sl).square() if raw is None else raw


def _chunk_mismatch(stats: TaskPairStats, sl: slice, mismatch: str,
                    num_samples: float, ha: Tensor, hb: Tensor, va: Tensor,
                    vb: Tensor, k: Optional[Tensor], zero_a: float,
                    zero_b: float) -> Tensor:
    """Float64 chunk of ``d2``: ``delta^2`` (or ``delta2``), less the noise
    of :func:`~.mismatch.mismatch_noise` unless ``mismatch='raw'``."""
    raw = _chunk_raw_d2(stats, sl)
    if mismatch != 'raw':
        raw = raw - mismatch_noise(ha, hb, num_samples, va, vb, k,
                                   _chunk_part(stats.sgd_noise, sl), zero_a,
                                   zero_b)
    return raw


def _exact_chunk(stats: TaskPairStats, sl: slice, variant: str, mismatch: str,
                 num_samples: float, w: Tensor, zero_a: float,
                 zero_b: float) -> Tuple[SlotCosts, Tuple[int, int, int]]:
    """One chunk of the exact pass: costs and ``(zero_both,
    zero_one_side, negative_d2)`` counts."""
    ha, hb, va, vb, k = _chunk_inputs(stats, sl, variant)
    d2 = _chunk_mismatch(stats, sl, mismatch, num_samples, ha, hb, va, vb, k,
                         zero_a, zero_b)
    split = split_zero_fisher(ha, hb, va, vb, num_samples, zero_a, zero_b)
    cost = _nonzero_costs(split, va, vb, k, d2, num_samples, w)
    return cost, split.counts(d2)
