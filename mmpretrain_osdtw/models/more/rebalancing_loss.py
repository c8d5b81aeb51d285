r"""MORE's rebalancing loss: prior-weighted full-vs-general discrepancy.

.. math::
    L_\mathrm{MORE} = \frac{1}{B} \sum_i w_{y_i}\,
        D\big(z(x_i), z_g(x_i)\big), \qquad w_y = \pi_y,

with ``z`` the full-path logits (``W_g + B A``), ``z_g`` the general-path
logits (``W_g`` only) and ``pi_y = n_y / sum_j n_j``. Head-class samples are
penalised strongly when the tail component changes their logits, tail-class
samples hardly at all. The class-count factor ``K`` of the paper's
normalised amplitude sits in the schedule (``alpha = A' K sin(...)``), not
in ``w``.
"""
from typing import Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmpretrain.models.losses.utils import weight_reduce_loss
from mmpretrain.registry import MODELS
from torch import nn

from mmpretrain_osdtw.utils.class_counts import load_class_counts

CountsLike = Union[str, Sequence[int], np.ndarray, torch.Tensor]
DISTANCES = ('l2', 'kl')
REDUCTIONS = ('none', 'mean', 'sum')


def logit_discrepancy(logits: torch.Tensor,
                      general_logits: torch.Tensor,
                      distance: str = 'l2') -> torch.Tensor:
    """Per-sample discrepancy ``D(z, z_g)`` between two logit batches.

    Args:
        logits (torch.Tensor): Full-path logits ``z``, shape ``(B, K)``.
        general_logits (torch.Tensor): General-path logits ``z_g``, same
            shape.
        distance (str): ``'l2'``: ``||z - z_g||_2^2``; ``'kl'``:
            ``KL(softmax(z_g) || softmax(z))``. Defaults to ``'l2'``.

    Returns:
        torch.Tensor: Shape ``(B,)``.

    Example:
        >>> logit_discrepancy(torch.tensor([[1., 2.]]), torch.zeros(1, 2))
        tensor([5.])
    """
    if distance not in DISTANCES:
        raise ValueError(f'distance must be one of {DISTANCES}, got '
                         f'{distance!r}')
    if logits.shape != general_logits.shape or logits.dim() != 2:
        raise ValueError(f'logits {tuple(logits.shape)} and general logits '
                         f'{tuple(general_logits.shape)} must both be (B, K)')
    if distance == 'l2':
        return (logits - general_logits).pow(2).sum(dim=1)
    log_p = F.log_softmax(logits, dim=1)
    log_q = F.log_softmax(general_logits, dim=1)
    return (log_q.exp() * (log_q - log_p)).sum(dim=1)


def sample_prior_weights(prior: torch.Tensor,
                         target: torch.Tensor) -> torch.Tensor:
    """``w_i = pi_{y_i}`` of each sample.

    Args:
        prior (torch.Tensor): Class prior ``pi``, shape ``(K,)``.
        target (torch.Tensor): Class ids ``(B,)`` or soft targets ``(B, K)``
            (Mixup / CutMix); a soft row gets the target-weighted prior
            ``sum_c t_c pi_c``.

    Returns:
        torch.Tensor: float ``(B,)``.
    """
    num_classes = prior.numel()
    if target.dim() == 1:
        if target.dtype.is_floating_point:
            raise TypeError('class-id targets must be integers, got '
                            f'{target.dtype}')
        bad = target[(target < 0) | (target >= num_classes)]
        if bad.numel():
            raise ValueError(f'label {int(bad[0])} is outside '
                             f'0..{num_classes - 1}')
        return prior[target.long()]
    if target.dim() != 2 or target.size(1) != num_classes:
        raise ValueError(f'soft targets have shape {tuple(target.shape)}, '
                         f'expected (B, {num_classes})')
    return target.float() @ prior


@MODELS.register_module()
class MORERebalancingLoss(nn.Module):
    """The rebalancing loss ``L_MORE`` of MORE (model rebalancing).

    Mean over the batch of ``pi_{y_i} * D(z_i, z_{g,i})``; the schedule
    weight ``alpha(t)`` is applied by the classifier. Needs the training
    class counts: ``ClassCountsHook`` calls :meth:`set_class_counts`, or
    give ``class_counts``.

    Args:
        distance (str): ``'l2'`` (squared L2 on logits, the default) or
            ``'kl'`` (``KL(softmax(z_g) || softmax(z))``).
        class_counts (str | Sequence[int], optional): Training counts (list
            or JSON path). Defaults to None (set by ``ClassCountsHook``).
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to
            ``'mean'``.

    Example:
        >>> loss = MORERebalancingLoss(class_counts=[3, 1])
        >>> z, z_g = torch.tensor([[1., 2.], [0., 1.]]), torch.zeros(2, 2)
        >>> loss(z, z_g, torch.tensor([0, 1]))  # (0.75 * 5 + 0.25 * 1) / 2
        tensor(2.)
    """

    def __init__(self,
                 distance: str = 'l2',
                 class_counts: Optional[CountsLike] = None,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean') -> None:
        super().__init__()
        name = type(self).__name__
        if distance not in DISTANCES:
            raise ValueError(f'{name}: distance must be one of {DISTANCES}, '
                             f'got {distance!r}')
        if reduction not in REDUCTIONS:
            raise ValueError(f'{name}: reduction must be one of '
                             f'{REDUCTIONS}, got {reduction!r}')
        self.distance = distance
        self.loss_weight = float(loss_weight)
        self.reduction = reduction
        # Not saved: the merged checkpoint must hold only the plain keys.
        self.register_buffer(
            'class_counts', torch.zeros(0, dtype=torch.long), persistent=False)
        if class_counts is not None:
            self.set_class_counts(class_counts)

    @property
    def counts_are_set(self) -> bool:
        return bool(self.class_counts.numel() > 0)

    def set_class_counts(self, counts: CountsLike) -> None:
        """Store the training counts (``K`` entries, original order).

        Args:
            counts (str | Sequence[int] | np.ndarray | torch.Tensor): The
                counts or a JSON path.
        """
        counts = load_class_counts(counts)
        if (counts <= 0).any():
            empty = np.flatnonzero(counts <= 0).tolist()
            raise ValueError(f'{type(self).__name__}: classes {empty} have '
                             'no training sample')
        self.class_counts = torch.as_tensor(
            counts, dtype=torch.long, device=self.class_counts.device)

    def prior(self) -> torch.Tensor:
        """The class prior ``pi`` (float32, ``(K,)``)."""
        if not self.counts_are_set:
            raise RuntimeError(
                f'{type(self).__name__} has no class counts: add '
                "`dict(type='ClassCountsHook')` to `custom_hooks` or pass "
                '`class_counts=` (a list or a JSON path) to the loss')
        counts = self.class_counts.double()
        return (counts / counts.sum()).float()

    def forward(self,
                logits: torch.Tensor,
                general_logits: torch.Tensor,
                target: torch.Tensor,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> torch.Tensor:
        """Compute the loss.

        Args:
            logits (torch.Tensor): Full-path logits ``(B, K)``.
            general_logits (torch.Tensor): General-path logits ``(B, K)``.
            target (torch.Tensor): Class ids ``(B,)`` or soft targets
                ``(B, K)``.
            avg_factor (float, optional): Divisor of the summed loss for
                ``'mean'``. Defaults to None (``B``).
            reduction_override (str, optional): Replaces ``reduction``.

        Returns:
            torch.Tensor: The loss (per sample for ``'none'``).
        """
        reduction = reduction_override or self.reduction
        if reduction not in REDUCTIONS:
            raise ValueError(f'reduction must be one of {REDUCTIONS}, got '
                             f'{reduction!r}')
        prior = self.prior().to(logits.device)
        if prior.numel() != logits.size(-1):
            raise ValueError(
                f'{type(self).__name__}: logits have {logits.size(-1)} '
                f'classes but class_counts has {prior.numel()} entries')
        weight = sample_prior_weights(prior, target.to(logits.device))
        loss = logit_discrepancy(logits, general_logits, self.distance)
        loss = weight_reduce_loss(
            loss, weight=weight, reduction=reduction, avg_factor=avg_factor)
        return self.loss_weight * loss
