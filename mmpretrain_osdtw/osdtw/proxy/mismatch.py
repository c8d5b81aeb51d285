"""The stage-1 mismatch estimate ``d2`` of ``Delta_j^2`` and its noise.

``E[delta_j^2] = Delta_j^2 + n_j`` (proxy.md section 4): the
``'debiased'`` mismatches subtract the noise ``n_j`` of
:func:`mismatch_noise`.
"""
from typing import Optional

import torch
from torch import Tensor

from .thresholds import _zero_masks
from .types import _DTYPE


def mismatch_noise(h_a: Tensor,
                   h_b: Tensor,
                   num_samples: float,
                   v_a: Optional[Tensor] = None,
                   v_b: Optional[Tensor] = None,
                   k: Optional[Tensor] = None,
                   sgd_noise: Optional[Tensor] = None,
                   zero_a: float = 0.0,
                   zero_b: float = 0.0) -> Tensor:
    """Noise variance ``n_j`` of the stage-1 difference ``theta_A - theta_B``.

    ``n_j = (v_A/h_A^2 + v_B/h_B^2 - 2k/(h_A h_B)) / N + sgd_noise``;
    with ``v = h`` and ``k = 0`` (the defaults) this is the paper-style
    ``(1/h_A + 1/h_B) / N``. Slots with a zero-Fisher side (``h <=`` its
    threshold) get ``n_j = sgd_noise`` (or 0): their mismatch does not
    enter the proxy.

    Args:
        h_a, h_b (Tensor): Hessian diagonals.
        num_samples (float): ``N``.
        v_a, v_b (Tensor, optional): Score variances (default ``h``).
        k (Tensor, optional): Cross-task covariance (default 0).
        sgd_noise (Tensor, optional): Extra optimisation noise.
        zero_a, zero_b (float): Zero-Fisher thresholds.

    Returns:
        Tensor: float64 ``n_j``, same shape as ``h_a``.
    """
    h_a, h_b = h_a.to(_DTYPE), h_b.to(_DTYPE)
    za, zb = _zero_masks(h_a, h_b, zero_a, zero_b)
    dead = za | zb
    ha = torch.where(dead, torch.ones_like(h_a), h_a)
    hb = torch.where(dead, torch.ones_like(h_b), h_b)
    va = ha if v_a is None else v_a.to(_DTYPE)
    vb = hb if v_b is None else v_b.to(_DTYPE)
    noise = va / ha.square() + vb / hb.square()
    if k is not None:
        noise = noise - 2 * k.to(_DTYPE) / (ha * hb)
    noise = torch.where(dead, torch.zeros_like(noise), noise / num_samples)
    if sgd_noise is not None:
        noise = noise + sgd_noise.to(_DTYPE)
    return noise


def debiased_delta2(delta: Tensor,
                    h_a: Tensor,
                    h_b: Tensor,
                    num_samples: float,
                    v_a: Optional[Tensor] = None,
                    v_b: Optional[Tensor] = None,
                    k: Optional[Tensor] = None,
                    sgd_noise: Optional[Tensor] = None,
                    zero_a: float = 0.0,
                    zero_b: float = 0.0) -> Tensor:
    """Unbiased estimate of ``Delta_j^2``: ``delta^2 - n_j``, not floored.

    ``E[delta_j^2] = Delta_j^2 + n_j`` (proxy.md section 4), so the result
    may be negative; per-layer sums of it are unbiased. See
    :func:`mismatch_noise` for ``n_j`` and the arguments.

    Returns:
        Tensor: float64 debiased squared mismatch.

    Example:
        >>> one = torch.ones(1)
        >>> debiased_delta2(torch.tensor([1.0]), one, one, 4).tolist()
        [0.5]
    """
    noise = mismatch_noise(h_a, h_b, num_samples, v_a, v_b, k, sgd_noise,
                           zero_a, zero_b)
    return delta.to(_DTYPE).square() - noise
