"""ViT classification heads trained with logit-adjusted losses.

Both heads hold the training class counts as persistent buffers (saved in
checkpoints) and shift their logits by the class prior only inside the loss;
predictions use the raw logits and are always returned in the original
``K``-class order, so one metric serves every model.
"""
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmpretrain.models.heads import VisionTransformerClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmpretrain_osdtw.utils.class_counts import load_class_counts
from mmpretrain_osdtw.utils.head_tail import split_head_tail, task_num_classes
from ..losses import log_prior_from_counts, log_prior_odds_from_counts

CountsLike = Union[str, Sequence[int], np.ndarray, torch.Tensor]
HEAD_TASKS = (None, 'both', 'head', 'tail')
MISSING_COUNTS_HINT = (
    'add `dict(type=\'ClassCountsHook\')` to `custom_hooks` or pass '
    '`class_counts=` (a list or a JSON path) to the head')


def pack_predictions(
        scores: torch.Tensor,
        data_samples: Optional[List[Optional[DataSample]]] = None
) -> List[DataSample]:
    """Write ``pred_score`` and ``pred_label`` (argmax over ``K``) into the
    data samples (new ones where there are none).

    Args:
        scores (torch.Tensor): ``(B, K)`` class scores.
        data_samples (list, optional): The batch's samples (entries may be
            None).

    Returns:
        list[DataSample]: One per row of ``scores``.
    """
    labels = scores.argmax(dim=1, keepdim=True).detach()
    if data_samples is None:
        data_samples = [None] * scores.size(0)
    out = []
    for sample, score, label in zip(data_samples, scores, labels):
        sample = DataSample() if sample is None else sample
        out.append(sample.set_pred_score(score).set_pred_label(label))
    return out


class _PriorAwareHead(VisionTransformerClsHead):
    """Shared part of the logit-adjusted heads: counts, class ids, targets.

    ``num_classes`` is always the original number of classes ``K``; the
    linear layer has ``task_num_classes(K, task)`` outputs. Buffers:

    - ``class_counts`` (``K``, int64): training samples per class, all zero
      until :meth:`set_class_counts` runs or a checkpoint is loaded.
    - ``class_ids`` (int64): original ids of the head's classes in task
      order (``arange(K)`` without a task, ``-1`` until the split is known).

    Args:
        num_classes (int): The original number of classes ``K``.
        in_channels (int): Channels of the backbone feature.
        task (str, optional): ``'head'``, ``'tail'`` or None (all classes;
            ``'both'`` means the same). Defaults to None.
        class_counts (str | Sequence[int], optional): Training counts (a list
            or a JSON path); else set by ``ClassCountsHook``. Defaults to None.
        **kwargs: Passed to :class:`VisionTransformerClsHead` (``loss``,
            ``hidden_dim``, ``act_cfg``, ``init_cfg``, ``topk``).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 task: Optional[str] = None,
                 class_counts: Optional[CountsLike] = None,
                 **kwargs) -> None:
        if task not in HEAD_TASKS:
            raise ValueError(f'{type(self).__name__}: task must be one of '
                             f'{HEAD_TASKS}, got {task!r}')
        if kwargs.get('cal_acc', False):
            raise ValueError(f'{type(self).__name__} does not support '
                             'cal_acc=True; evaluate with ShotGroupMetric')
        task = None if task == 'both' else task
        num_outputs = task_num_classes(num_classes, task)
        # The parent sizes its linear layer by ``num_classes``: give it the
        # task's size, then restore ``num_classes`` to the original K.
        super().__init__(
            num_classes=num_outputs, in_channels=in_channels, **kwargs)
        self.num_classes = num_classes
        self.num_task_classes = num_outputs
        self.task = task
        initial_ids = torch.arange(num_classes) if task is None else \
            torch.full((num_outputs, ), -1, dtype=torch.long)
        self.register_buffer('class_counts',
                             torch.zeros(num_classes, dtype=torch.long))
        self.register_buffer('class_ids', initial_ids)
        if class_counts is not None:
            self.set_class_counts(class_counts)

    @property
    def counts_are_set(self) -> bool:
        """Whether training counts were set or loaded from a checkpoint."""
        return bool(self.class_counts.sum() > 0)

    def set_class_counts(self, counts: CountsLike) -> None:
        """Store the training counts and the task's class ids.

        Args:
            counts (str | Sequence[int] | np.ndarray | torch.Tensor): ``K``
                training counts in the original class order (or a JSON path).

        Raises:
            ValueError: If the length is not ``K``, a class has no sample,
                or the counts would change the classes of an already set
                task head (its weights would no longer match the classes).
        """
        counts = load_class_counts(counts)
        name = type(self).__name__
        if len(counts) != self.num_classes:
            raise ValueError(f'{name}: class_counts has {len(counts)} '
                             f'entries but num_classes={self.num_classes}')
        head_ids, tail_ids = split_head_tail(counts)
        ids = {
            None: np.arange(self.num_classes),
            'head': head_ids,
            'tail': tail_ids
        }[self.task]
        ids = torch.as_tensor(ids, dtype=torch.long)
        if self.counts_are_set and not torch.equal(ids, self.class_ids.cpu()):
            raise ValueError(
                f'{name} (task={self.task!r}): the new class_counts change '
                'the classes of this task head (they differ from the counts '
                'already stored, e.g. loaded from a checkpoint); its weights '
                'would no longer match its classes. Use the training counts '
                'the head was trained with, or re-initialise the head.')
        self.class_counts.copy_(torch.as_tensor(counts))
        self.class_ids.copy_(ids)

    def _require_counts(self) -> None:
        """Raise a clear error when the training counts are unknown."""
        if not self.counts_are_set:
            raise RuntimeError(
                f'{type(self).__name__} (task={self.task!r}) has no class '
                f'counts: {MISSING_COUNTS_HINT}')

    def class_targets(self, data_samples: List[DataSample]) -> torch.Tensor:
        """Targets over the original ``K`` classes.

        Args:
            data_samples (list[DataSample]): Samples with ``gt_score``
                (Mixup/CutMix) or ``gt_label``.

        Returns:
            torch.Tensor: float ``(B, K)``: the soft ``gt_score`` if present,
            else the one-hot ``gt_label``.
        """
        name = type(self).__name__
        if 'gt_score' in data_samples[0]:
            target = torch.stack([s.gt_score for s in data_samples]).float()
            if target.dim() != 2 or target.size(1) != self.num_classes:
                raise ValueError(
                    f'{name}: gt_score has shape {tuple(target.shape)}, '
                    f'expected (B, {self.num_classes}); set num_classes of '
                    'the data_preprocessor to the original K')
            return target
        labels = torch.cat([s.gt_label.reshape(-1) for s in data_samples])
        if labels.numel() != len(data_samples):
            raise ValueError(f'{name}: every sample needs exactly one '
                             'gt_label (multi-label data is not supported)')
        bad = labels[(labels < 0) | (labels >= self.num_classes)]
        if bad.numel() > 0:
            raise ValueError(f'{name}: gt_label {int(bad[0])} is outside '
                             f'0..{self.num_classes - 1}')
        return F.one_hot(labels.long(), self.num_classes).float()

    def task_targets(self, data_samples: List[DataSample]) -> torch.Tensor:
        """Targets over the head's classes in task order.

        A sample of the other group gets an all-zero row.

        Args:
            data_samples (list[DataSample]): See :meth:`class_targets`.

        Returns:
            torch.Tensor: float ``(B, num_task_classes)``.
        """
        self._require_counts()
        target = self.class_targets(data_samples)
        return target.to(self.class_ids.device)[:, self.class_ids]

    def task_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Raw logits over the head's classes in task order.

        Args:
            feats (tuple[torch.Tensor]): Backbone outputs; the last one is
                used.

        Returns:
            torch.Tensor: ``(B, num_task_classes)``.
        """
        return self(feats)

    def scatter_to_classes(self, task_scores: torch.Tensor) -> torch.Tensor:
        """Place task-order scores into the original ``K``-class order.

        Classes outside the task get 0. Differentiable.

        Args:
            task_scores (torch.Tensor): ``(B, num_task_classes)``.

        Returns:
            torch.Tensor: ``(B, K)``.

        Example:
            >>> head = LogitAdjustedBCEHead(
            ...     num_classes=3, in_channels=8, task='tail',
            ...     class_counts=[10, 30, 20])  # tail classes: [2, 0]
            >>> head.scatter_to_classes(torch.tensor([[0.7, 0.2]]))
            tensor([[0.2000, 0.0000, 0.7000]])
        """
        if self.task is None:
            return task_scores
        self._require_counts()
        out = task_scores.new_zeros(task_scores.size(0), self.num_classes)
        return out.index_copy(1, self.class_ids.to(task_scores.device),
                              task_scores)


@MODELS.register_module()
class LogitAdjustedBCEHead(_PriorAwareHead):
    """ViT head with sigmoid outputs trained by ``LogitAdjustedBCELoss``.

    With ``task='head'`` / ``'tail'`` it classifies only that task's classes
    (``K // 2`` / ``K - K // 2`` outputs, see ``split_head_tail``); the task
    target is the task's slice of the ``K``-class target, so a sample of the
    other group has an all-zero row. ``predict`` returns sigmoid scores in
    the original order, 0 for the other group's classes.

    With label smoothing on a task head, set ``smooth_num_classes=K`` in the
    loss so the task target equals the slice of the smoothed K-class target.

    Args:
        num_classes (int): The original number of classes ``K``.
        in_channels (int): Channels of the backbone feature.
        task (str, optional): ``'head'``, ``'tail'`` or None. Defaults to
            None.
        class_counts (str | Sequence[int], optional): Training counts (list
            or JSON path); else ``ClassCountsHook`` sets them. Defaults to
            None.
        loss (dict): The loss config. Defaults to
            ``dict(type='LogitAdjustedBCELoss', tau=1.0)``.
        hidden_dim (int, optional): Hidden layer size. Defaults to None.
        init_cfg (dict): Initialisation. Defaults to zero linear weights, as
            :class:`VisionTransformerClsHead`.
        **kwargs: Other :class:`VisionTransformerClsHead` arguments.

    Example:
        >>> head = LogitAdjustedBCEHead(
        ...     num_classes=5, in_channels=8, task='tail',
        ...     class_counts=[50, 40, 30, 20, 10])
        >>> head.class_ids.tolist()
        [2, 3, 4]
        >>> head.predict((torch.rand(2, 8), ))[0].pred_score.shape
        torch.Size([5])
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 task: Optional[str] = None,
                 class_counts: Optional[CountsLike] = None,
                 loss: dict = dict(type='LogitAdjustedBCELoss', tau=1.0),
                 hidden_dim: Optional[int] = None,
                 init_cfg: dict = dict(type='Constant', layer='Linear', val=0),
                 **kwargs) -> None:
        super().__init__(
            num_classes=num_classes,
            in_channels=in_channels,
            task=task,
            class_counts=class_counts,
            loss=loss,
            hidden_dim=hidden_dim,
            init_cfg=init_cfg,
            **kwargs)

    def task_log_prior_odds(self) -> torch.Tensor:
        """``log pi_c - log(1 - pi_c)`` of the task's classes (task order).

        ``pi`` is normalised over all ``K`` classes.
        """
        self._require_counts()
        return log_prior_odds_from_counts(self.class_counts, self.class_ids)

    def _get_loss(self, cls_score: torch.Tensor,
                  data_samples: List[DataSample], **kwargs) -> dict:
        """Compute the loss from task logits (called by ``loss``)."""
        target = self.task_targets(data_samples)
        loss = self.loss_module(
            cls_score,
            target.to(cls_score.device),
            log_prior_odds=self.task_log_prior_odds(),
            avg_factor=cls_score.size(0),
            **kwargs)
        return dict(loss=loss)

    def _get_predictions(
        self, cls_score: torch.Tensor,
        data_samples: Optional[List[Optional[DataSample]]]
    ) -> List[DataSample]:
        """Sigmoid scores in the original class order (called by
        ``predict``)."""
        scores = self.scatter_to_classes(torch.sigmoid(cls_score))
        return pack_predictions(scores, data_samples)


@MODELS.register_module()
class LogitAdjustedCEHead(_PriorAwareHead):
    """ViT head with softmax outputs trained by ``LogitAdjustedCELoss``.

    The softmax baseline of logit adjustment (Menon et al.): the loss sees
    ``z + tau * log pi``, ``predict`` returns ``softmax(z)`` over all ``K``
    classes.

    Args:
        num_classes (int): The number of classes ``K``.
        in_channels (int): Channels of the backbone feature.
        class_counts (str | Sequence[int], optional): Training counts (list
            or JSON path); else ``ClassCountsHook`` sets them. Defaults to
            None.
        loss (dict): The loss config. Defaults to
            ``dict(type='LogitAdjustedCELoss', tau=1.0)``.
        hidden_dim (int, optional): Hidden layer size. Defaults to None.
        init_cfg (dict): Initialisation. Defaults to zero linear weights.
        **kwargs: Other :class:`VisionTransformerClsHead` arguments.

    Example:
        >>> head = LogitAdjustedCEHead(
        ...     num_classes=3, in_channels=8, class_counts=[30, 20, 10])
        >>> head.predict((torch.rand(2, 8), ))[0].pred_score.shape
        torch.Size([3])
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 class_counts: Optional[CountsLike] = None,
                 loss: dict = dict(type='LogitAdjustedCELoss', tau=1.0),
                 hidden_dim: Optional[int] = None,
                 init_cfg: dict = dict(type='Constant', layer='Linear', val=0),
                 **kwargs) -> None:
        super().__init__(
            num_classes=num_classes,
            in_channels=in_channels,
            task=None,
            class_counts=class_counts,
            loss=loss,
            hidden_dim=hidden_dim,
            init_cfg=init_cfg,
            **kwargs)

    def log_prior(self) -> torch.Tensor:
        """``log pi_c`` of all ``K`` classes."""
        self._require_counts()
        return log_prior_from_counts(self.class_counts)

    def _get_loss(self, cls_score: torch.Tensor,
                  data_samples: List[DataSample], **kwargs) -> dict:
        """Compute the loss from the logits (called by ``loss``)."""
        self._require_counts()
        target = self.class_targets(data_samples)
        loss = self.loss_module(
            cls_score,
            target.to(cls_score.device),
            log_prior=self.log_prior(),
            avg_factor=cls_score.size(0),
            **kwargs)
        return dict(loss=loss)

    def _get_predictions(
        self, cls_score: torch.Tensor,
        data_samples: Optional[List[Optional[DataSample]]]
    ) -> List[DataSample]:
        """Softmax scores over the K classes (called by ``predict``)."""
        return pack_predictions(
            F.softmax(cls_score, dim=1), data_samples)
