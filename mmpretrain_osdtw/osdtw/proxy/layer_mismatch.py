"""Per layer: the measured stage-1 mismatch against its noise.

The proxy's premise (proxy.md A3, local mismatch) is that the two task
optima differ by ``Delta = O(N^-1/2)``, i.e. by about as much as the
noise of their difference. What the stage-1 models show is read from
``E[delta_j^2] = Delta_j^2 + n_j``: per layer, the sum of the measured
``delta_j^2`` over the sum of the noise ``n_j`` of
:func:`~.mismatch.mismatch_noise`. A ratio near 1 means the two bodies
differ by no more than noise (the debiased mismatch is about 0 and sharing
looks free); a ratio well above 1 means a real mismatch, the regime where
the depth choice matters (at ``w_A = 0.5`` a slot pays for sharing iff
``Delta_j^2`` exceeds its noise, property P2).

Only the slots whose Fisher is nonzero for both tasks enter (the others
do not enter the proxy's bias term either).
"""
from typing import Iterable, List, Tuple

import torch

from .costs import _chunk_inputs, _chunk_part, _chunk_raw_d2
from .mismatch import mismatch_noise
from .thresholds import _zero_masks
from .types import _DTYPE, TaskPairStats


def layer_mismatch(stats: Iterable[TaskPairStats], num_layers: int,
                   num_samples: float, zero_thresholds: Tuple[float, float],
                   variant: str = 'full') -> List[dict]:
    """Sum the measured squared mismatch and its noise per layer.

    Args:
        stats (Iterable[TaskPairStats]): One entry per parameter tensor.
        num_layers (int): ``L``.
        num_samples (float): ``N``.
        zero_thresholds (tuple[float, float]): The zero-Fisher thresholds
            of task A and task B (those the proxy used).
        variant (str): ``'full'`` (noise from ``h``, ``v`` and ``k``) or
            ``'paper'`` (``(1/h_A + 1/h_B) / N``).

    Returns:
        list[dict]: For layers ``0..L``: ``layer``, ``slots`` (both Fisher
        sides nonzero), ``delta2`` (sum of ``delta_j^2``), ``noise`` (sum
        of ``n_j``, the SGD-noise term included when given), ``ratio``
        (``delta2 / noise``, None when the noise is 0),
        ``above_noise`` (the fraction of slots with ``delta_j^2 > n_j``)
        and, when the statistics carry it, ``sgd_noise`` (the sum of the
        SGD-noise part of ``n_j``).
    """
    zero_a, zero_b = zero_thresholds
    sums = torch.zeros(num_layers + 1, 5, dtype=_DTYPE)
    everything = slice(None)
    with_sgd = False
    for s in stats:
        ha, hb, va, vb, k = _chunk_inputs(s, everything, variant)
        raw = _chunk_raw_d2(s, everything)
        sgd = _chunk_part(s.sgd_noise, everything)
        with_sgd = with_sgd or sgd is not None
        noise = mismatch_noise(ha, hb, num_samples, va, vb, k, sgd, zero_a,
                               zero_b)
        za, zb = _zero_masks(ha, hb, zero_a, zero_b)
        live = ~(za | zb)
        sums[s.layer] += torch.stack([
            live.sum().to(_DTYPE), raw[live].sum(), noise[live].sum(),
            (raw[live] > noise[live]).sum().to(_DTYPE),
            sgd.to(_DTYPE)[live].sum()
            if sgd is not None else torch.zeros((), dtype=_DTYPE)
        ])
    rows = []
    for layer, (slots, delta2, noise, above, sgd) in enumerate(sums.tolist()):
        row = dict(
            layer=layer,
            slots=int(slots),
            delta2=delta2,
            noise=noise,
            ratio=delta2 / noise if noise > 0 else None,
            above_noise=above / slots if slots else None)
        if with_sgd:
            row['sgd_noise'] = sgd
        rows.append(row)
    return rows
