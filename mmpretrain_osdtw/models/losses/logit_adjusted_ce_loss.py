"""Logit-adjusted softmax cross-entropy (Menon et al., ICLR 2021)."""
from typing import Optional

import torch
import torch.nn as nn
from mmpretrain.models.losses.utils import weight_reduce_loss
from mmpretrain.registry import MODELS

from .logit_adjusted_bce_loss import (check_label_smooth_val,
                                      check_prior_vector, check_reduction,
                                      check_tau, to_one_hot_like)


def log_prior_from_counts(counts: torch.Tensor) -> torch.Tensor:
    """Compute ``log pi_c`` with ``pi_c = n_c / sum_j n_j``.

    Args:
        counts (torch.Tensor): Training samples per class, shape ``(K,)``.

    Returns:
        torch.Tensor: float32 log prior, shape ``(K,)``.

    Example:
        >>> log_prior_from_counts(torch.tensor([3, 1]))
        tensor([-0.2877, -1.3863])
    """
    counts = counts.double()
    return torch.log(counts / counts.sum()).float()


@MODELS.register_module()
class LogitAdjustedCELoss(nn.Module):
    r"""Softmax cross-entropy on logits shifted by the log class prior.

    .. math::
        \ell = -\sum_c y'_c \log \mathrm{softmax}(z + \tau \log \pi)_c,
        \qquad y' = (1 - s) y + s / K.

    Targets may be class indices or soft rows (Mixup / CutMix). The
    adjustment is applied in the loss only; predictions use the raw logits.
    Samples are reduced with
    :func:`mmpretrain.models.losses.utils.weight_reduce_loss`.

    Args:
        tau (float): Strength of the adjustment; 0 gives plain (soft) CE.
            Defaults to 1.0.
        label_smooth_val (float): Smoothing ``s`` in ``[0, 1)``.
            Defaults to 0.0.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'`` over samples.
            Defaults to ``'mean'``.

    Example:
        >>> loss = LogitAdjustedCELoss(tau=1.0)
        >>> score = torch.zeros(2, 2)
        >>> log_prior = log_prior_from_counts(torch.tensor([3, 1]))
        >>> loss(score, torch.tensor([0, 1]), log_prior=log_prior)
        tensor(0.8370)
    """

    def __init__(self,
                 tau: float = 1.0,
                 label_smooth_val: float = 0.0,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean') -> None:
        super().__init__()
        name = type(self).__name__
        self.tau = check_tau(tau, name)
        self.label_smooth_val = check_label_smooth_val(label_smooth_val, name)
        self.loss_weight = float(loss_weight)
        self.reduction = check_reduction(reduction, name)

    def forward(self,
                cls_score: torch.Tensor,
                target: torch.Tensor,
                log_prior: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> torch.Tensor:
        """Compute the loss.

        Args:
            cls_score (torch.Tensor): Raw logits ``(B, K)``.
            target (torch.Tensor): Class indices ``(B,)`` or one-hot / soft
                targets ``(B, K)``.
            log_prior (torch.Tensor): ``log pi_c``, shape ``(K,)``.
            weight (torch.Tensor, optional): Per-sample weights ``(B,)``.
                Defaults to None.
            avg_factor (float, optional): Divisor of the summed loss when
                the reduction is ``'mean'``. Defaults to None (``B``).
            reduction_override (str, optional): Replaces ``reduction`` for
                this call. Defaults to None.

        Returns:
            torch.Tensor: The loss (per sample when the reduction is
            ``'none'``).
        """
        name = type(self).__name__
        reduction = check_reduction(reduction_override or self.reduction, name)
        target = to_one_hot_like(target, cls_score, name)
        if self.label_smooth_val > 0:
            target = target * (1 - self.label_smooth_val) + (
                self.label_smooth_val / target.size(1))
        prior = check_prior_vector(log_prior, cls_score, 'log_prior', name)
        log_prob = torch.log_softmax(cls_score + self.tau * prior, dim=1)
        loss = -(target * log_prob).sum(dim=1)
        if weight is not None:
            weight = weight.reshape(-1).float()
        loss = weight_reduce_loss(
            loss, weight=weight, reduction=reduction, avg_factor=avg_factor)
        return self.loss_weight * loss
