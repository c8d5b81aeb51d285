"""Logit-adjusted (balanced) binary cross-entropy, the Bal-BCE of LiVT."""
import math
from numbers import Real
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.losses.utils import weight_reduce_loss
from mmpretrain.registry import MODELS

REDUCTIONS = ('none', 'mean', 'sum')


def check_tau(tau: float, owner: str) -> float:
    """Return ``tau`` as a float after checking it is a finite number.

    Args:
        tau (float): Strength of the logit adjustment.
        owner (str): Name of the class that receives ``tau``, for the message.

    Returns:
        float: ``tau``.
    """
    is_number = isinstance(tau, Real) and not isinstance(tau, bool)
    if not is_number or not math.isfinite(tau):
        raise ValueError(f'{owner}: tau must be a finite number, got {tau!r}')
    return float(tau)


def check_label_smooth_val(label_smooth_val: float, owner: str) -> float:
    """Return ``label_smooth_val`` as a float after checking it is in [0, 1).

    Args:
        label_smooth_val (float): Degree of label smoothing.
        owner (str): Name of the class that receives it, for the message.

    Returns:
        float: ``label_smooth_val``.
    """
    if (isinstance(label_smooth_val, bool)
            or not isinstance(label_smooth_val, Real)
            or not 0 <= label_smooth_val < 1):
        raise ValueError(f'{owner}: label_smooth_val must be a number in '
                         f'[0, 1), got {label_smooth_val!r}')
    return float(label_smooth_val)


def check_reduction(reduction: str, owner: str) -> str:
    """Return ``reduction`` after checking it is one of :data:`REDUCTIONS`.

    Args:
        reduction (str): Requested reduction.
        owner (str): Name of the class that receives it, for the message.

    Returns:
        str: ``reduction``.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f'{owner}: reduction must be one of {REDUCTIONS}, '
                         f'got {reduction!r}')
    return reduction


def to_one_hot_like(target: torch.Tensor, cls_score: torch.Tensor,
                    owner: str) -> torch.Tensor:
    """Turn class indices ``(B,)`` into one-hot rows, check soft targets.

    Args:
        target (torch.Tensor): Class indices ``(B,)`` or ``(B, 1)``, or
            one-hot / soft targets ``(B, n)``.
        cls_score (torch.Tensor): Logits ``(B, n)``.
        owner (str): Name of the calling class, for the messages.

    Returns:
        torch.Tensor: Float targets with the shape and dtype of the logits.
    """
    if cls_score.dim() != 2:
        raise ValueError(f'{owner}: cls_score must have shape (B, n), got '
                         f'{tuple(cls_score.shape)}')
    num_classes = cls_score.size(1)
    if target.dim() == 1 or (target.dim() == 2 and target.size(1) == 1
                             and num_classes != 1):
        labels = target.reshape(-1).long()
        bad = labels[(labels < 0) | (labels >= num_classes)]
        if bad.numel() > 0:
            raise ValueError(f'{owner}: class index {int(bad[0])} is out of '
                             f'range for {num_classes} classes')
        target = F.one_hot(labels, num_classes)
    if target.shape != cls_score.shape:
        raise ValueError(f'{owner}: target shape {tuple(target.shape)} does '
                         f'not match cls_score shape {tuple(cls_score.shape)}')
    return target.to(cls_score.device, torch.float32)


def check_prior_vector(prior: torch.Tensor, cls_score: torch.Tensor, name: str,
                       owner: str) -> torch.Tensor:
    """Check a per-class prior vector ``(n,)`` and move it to the logits.

    Args:
        prior (torch.Tensor): Per-class log prior (or log prior odds).
        cls_score (torch.Tensor): Logits ``(B, n)``.
        name (str): Argument name, for the message.
        owner (str): Name of the calling class, for the message.

    Returns:
        torch.Tensor: ``prior`` as float32 on the device of ``cls_score``.
    """
    prior = torch.as_tensor(prior)
    if prior.shape != (cls_score.size(1), ):
        raise ValueError(f'{owner}: {name} must have shape '
                         f'({cls_score.size(1)},) to match cls_score, got '
                         f'{tuple(prior.shape)}')
    if not torch.isfinite(prior).all():
        raise ValueError(f'{owner}: {name} has non-finite values (a class '
                         'with zero or all training samples?)')
    return prior.to(cls_score.device, torch.float32)


def log_prior_odds_from_counts(
        counts: torch.Tensor,
        class_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Compute ``log pi_c - log(1 - pi_c)`` from training class counts.

    The prior is ``pi_c = n_c / sum_j n_j`` over ALL classes of ``counts``;
    ``class_ids`` then picks the classes of a task (no renormalisation).

    Args:
        counts (torch.Tensor): Training samples per class, shape ``(K,)``.
        class_ids (torch.Tensor, optional): Classes to keep, in task order.
            Defaults to None (all classes).

    Returns:
        torch.Tensor: float32 log prior odds, shape ``(len(class_ids),)``.

    Example:
        >>> log_prior_odds_from_counts(torch.tensor([3, 1]))
        tensor([ 1.0986, -1.0986])
    """
    prior = counts.double() / counts.double().sum()
    if class_ids is not None:
        prior = prior[class_ids]
    return (torch.log(prior) - torch.log1p(-prior)).float()


@MODELS.register_module()
class LogitAdjustedBCELoss(nn.Module):
    r"""Logit-adjusted binary cross-entropy (Bal-BCE of LiVT).

    During training every logit is shifted by its class's log prior odds

    .. math::
        z'_c = z_c + \tau (\log \pi_c - \log(1 - \pi_c)),

    targets are smoothed as :math:`y'_c = (1 - s) y_c + s / S`, and the loss
    of a sample is the SUM over its ``n`` classes of
    ``BCE-with-logits(z'_c, y'_c)``. Samples are then reduced with
    :func:`mmpretrain.models.losses.utils.weight_reduce_loss`, so
    ``reduction='mean'`` is the batch mean of the per-sample class sums
    (``n`` times the element-wise mean), as in LiVT. Evaluation uses the raw
    logits, so the adjustment lives only here.

    For a task head of OSDTW (``n`` of the ``K`` original classes), set
    ``smooth_num_classes=K``: the task target then is exactly the task's
    slice of the smoothed ``K``-class target (off value ``s / K``), and a
    sample of the other group keeps the smoothed all-zero row ``s / K``.

    Args:
        tau (float): Strength of the adjustment; 0 gives plain BCE.
            Defaults to 1.0.
        label_smooth_val (float): Smoothing ``s`` in ``[0, 1)``.
            Defaults to 0.0.
        smooth_num_classes (int, optional): ``S``, the number of classes the
            smoothing spreads over. Defaults to None (the number of logits).
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'`` over samples.
            Defaults to ``'mean'``.

    Example:
        >>> loss = LogitAdjustedBCELoss(tau=1.0)
        >>> score = torch.zeros(2, 3)
        >>> target = torch.tensor([[1., 0., 0.], [0., 0., 0.]])
        >>> odds = log_prior_odds_from_counts(torch.tensor([6, 3, 1]))
        >>> loss(score, target, log_prior_odds=odds)
        tensor(1.1756)
    """

    def __init__(self,
                 tau: float = 1.0,
                 label_smooth_val: float = 0.0,
                 smooth_num_classes: Optional[int] = None,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean') -> None:
        super().__init__()
        name = type(self).__name__
        self.tau = check_tau(tau, name)
        self.label_smooth_val = check_label_smooth_val(label_smooth_val, name)
        if smooth_num_classes is not None and (
                isinstance(smooth_num_classes, bool)
                or not isinstance(smooth_num_classes, int)
                or smooth_num_classes < 1):
            raise ValueError(f'{name}: smooth_num_classes must be a positive '
                             f'int or None, got {smooth_num_classes!r}')
        self.smooth_num_classes = smooth_num_classes
        self.loss_weight = float(loss_weight)
        self.reduction = check_reduction(reduction, name)

    def smooth(self, target: torch.Tensor) -> torch.Tensor:
        """Apply ``y' = (1 - s) y + s / S`` to ``(B, n)`` float targets."""
        if self.label_smooth_val == 0:
            return target
        num = self.smooth_num_classes or target.size(1)
        if num < target.size(1):
            raise ValueError(
                f'{type(self).__name__}: smooth_num_classes={num} is smaller '
                f'than the number of logits {target.size(1)}')
        return target * (1 - self.label_smooth_val) + (
            self.label_smooth_val / num)

    def forward(self,
                cls_score: torch.Tensor,
                target: torch.Tensor,
                log_prior_odds: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> torch.Tensor:
        """Compute the loss.

        Args:
            cls_score (torch.Tensor): Raw logits ``(B, n)``.
            target (torch.Tensor): One-hot or soft targets ``(B, n)`` (rows
                may be all zero) or class indices ``(B,)``.
            log_prior_odds (torch.Tensor): ``log pi_c - log(1 - pi_c)`` of
                the ``n`` classes, shape ``(n,)``.
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
        target = self.smooth(to_one_hot_like(target, cls_score, name))
        odds = check_prior_vector(log_prior_odds, cls_score, 'log_prior_odds',
                                  name)
        adjusted = cls_score + self.tau * odds
        loss = F.binary_cross_entropy_with_logits(
            adjusted, target, reduction='none').sum(dim=1)
        if weight is not None:
            weight = weight.reshape(-1).float()
        loss = weight_reduce_loss(
            loss, weight=weight, reduction=reduction, avg_factor=avg_factor)
        return self.loss_weight * loss
