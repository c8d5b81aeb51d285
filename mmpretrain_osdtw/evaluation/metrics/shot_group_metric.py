"""Many/Medium/Few-shot and head/tail accuracy for long-tailed recognition."""
import logging
from numbers import Real
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmpretrain.registry import METRICS

from mmpretrain_osdtw.utils.class_counts import load_class_counts
from mmpretrain_osdtw.utils.head_tail import split_head_tail

CountsLike = Union[str, Sequence[int], np.ndarray]
TASK_NAMES = ('head', 'tail')
#: What ``pred_score`` holds, for the test NLL: ``'softmax'`` (K-way
#: softmax probabilities) or ``'sigmoid'`` (one sigmoid per class).
NLL_KINDS = (None, 'softmax', 'sigmoid')
#: Scores are clipped into [_TINY, 1 - _EPS32] before taking logs: float32
#: sigmoids round to exactly 1 above a logit of about 16.6.
_TINY = 1e-30
_EPS32 = 2.0**-24
MISSING_COUNTS_HINT = (
    'add `dict(type=\'ClassCountsHook\')` to `custom_hooks` or pass '
    '`class_counts=` (a list or a JSON path) to ShotGroupMetric')


def shot_groups(counts: np.ndarray, many_thr: float,
                few_thr: float) -> Dict[str, np.ndarray]:
    """Split classes into Many/Medium/Few groups by training count.

    Args:
        counts (np.ndarray): Training samples per class, shape ``(K,)``.
        many_thr (float): Many-shot classes have ``count > many_thr``.
        few_thr (float): Few-shot classes have ``count < few_thr``; the rest
            (``few_thr <= count <= many_thr``) are medium-shot.

    Returns:
        dict[str, np.ndarray]: Class ids of ``'many'``, ``'medium'`` and
        ``'few'``, ascending.

    Example:
        >>> groups = shot_groups(np.array([500, 100, 20, 19]), 100, 20)
        >>> {k: v.tolist() for k, v in groups.items()}
        {'many': [0], 'medium': [1, 2], 'few': [3]}
    """
    return {
        'many': np.flatnonzero(counts > many_thr),
        'medium': np.flatnonzero((counts >= few_thr) & (counts <= many_thr)),
        'few': np.flatnonzero(counts < few_thr),
    }


def _check_threshold(value: float, name: str) -> float:
    """Return a threshold after checking it is a non-negative number."""
    if isinstance(value, bool) or not isinstance(value, Real) or value < 0:
        raise ValueError(f'ShotGroupMetric: {name} must be a non-negative '
                         f'number, got {value!r}')
    return value


@METRICS.register_module()
class ShotGroupMetric(BaseMetric):
    """Top-1, mean class, Many/Medium/Few and head/tail accuracy.

    Classes are grouped by their TRAINING count: Many ``> many_thr``,
    Medium ``few_thr..many_thr`` (inclusive), Few ``< few_thr`` (LiVT and
    PaCo use 100 and 20: Places-LT gives 131/163/71 classes). The head/tail
    tasks come from :func:`~mmpretrain_osdtw.utils.split_head_tail`.
    All values are percentages. Returned keys (with the prefix, default
    ``'lt/'``):

    - ``top1``: sample accuracy of the argmax over all ``K`` classes.
    - ``mean_class_acc``: mean of the per-class accuracies.
    - ``many`` / ``medium`` / ``few``: mean per-class accuracy of each group.
    - ``head_acc`` / ``tail_acc``: mean per-class accuracy over the head /
      tail task's classes (argmax over all ``K`` classes).
    - ``head_task_acc`` / ``tail_task_acc``: sample accuracy, on the samples
      of that task, of the argmax restricted to the task's own classes
      (a task model in isolation). A sample whose task scores are all equal
      (e.g. the zeros a single-task head gives the other task's classes)
      has no task prediction and counts as wrong; the key is left out when
      no sample of the task has one (a model of the other task alone, or
      outputs without ``pred_score``).
    - ``per_class_acc``: list of ``K`` per-class accuracies (when
      ``with_per_class``).
    - ``nll`` (with ``nll`` set): mean test negative log-likelihood per
      sample, in nats, of the model's own likelihood, from ``pred_score``:
      ``'softmax'``: ``-log p_y`` of the K-way softmax scores;
      ``'sigmoid'``: the SUM over the K classes of
      ``BCE-with-logits(z_c + nll_tau * log_odds_c, y_c)``, where ``z`` are
      the raw logits recovered from the sigmoid scores and ``log_odds_c =
      log pi_c - log(1 - pi_c)`` the training prior odds (the likelihood the
      logit-adjusted BCE trains and the OSDTW Fisher statistics use).
    - ``nll_raw`` (``'sigmoid'`` only): the same sum without the prior
      shift (the Bernoulli likelihood of the test-time scores).

    A class without evaluation samples has ``nan`` in ``per_class_acc`` and
    is left out of every mean; a group whose classes have no evaluation
    sample (e.g. no Few class in CIFAR-10-LT with the default thresholds) is
    left out of the result with a warning. Score ties go to the smallest
    class id.

    Under DDP, :meth:`BaseMetric.evaluate` gathers the per-sample results of
    all ranks (dropping the sampler's padding with ``size``) before
    :meth:`compute_metrics`, so the numbers are exact: never averaged over
    ranks.

    Args:
        class_counts (str | Sequence[int], optional): Training counts (list
            or JSON path). Defaults to None: set by ``ClassCountsHook`` via
            :meth:`set_class_counts`.
        many_thr (float): Many-shot threshold. Defaults to 100.
        few_thr (float): Few-shot threshold. Defaults to 20.
        with_per_class (bool): Whether to return ``per_class_acc`` (long
            lists end up in the log). Defaults to True.
        nll (str, optional): What ``pred_score`` holds, to compute the test
            NLL: ``'softmax'`` (``VisionTransformerClsHead``,
            ``LogitAdjustedCEHead``: softmax of the raw logits) or
            ``'sigmoid'`` (``LogitAdjustedBCEHead``, the OSDTW models:
            sigmoid of the raw logits, 0 for classes a model does not
            score). Defaults to None (no NLL). Scores are clipped to
            ``[1e-30, 1 - 2^-24]`` before the logs (float32 sigmoids of
            logits above about 16.6 are exactly 1), which bounds each term.
        nll_tau (float): The prior shift of the ``'sigmoid'`` likelihood
            (the loss's ``tau``). Defaults to 1.0.
        collect_device (str): ``'cpu'`` or ``'gpu'``, for gathering results
            across ranks. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the keys. Defaults to None, which
            means ``'lt'``.
        collect_dir (str, optional): Shared directory for CPU collection.
            Defaults to None.

    Example:
        >>> from mmpretrain.structures import DataSample
        >>> metric = ShotGroupMetric(class_counts=[200, 50, 5], with_per_class=False)
        >>> samples = [DataSample().set_gt_label(i).set_pred_score(
        ...     torch.eye(3)[0]).to_dict() for i in range(3)]
        >>> metric.process(None, samples)
        >>> metric.evaluate(3)['lt/many']
        100.0
    """  # noqa: E501
    default_prefix: Optional[str] = 'lt'

    def __init__(self,
                 class_counts: Optional[CountsLike] = None,
                 many_thr: float = 100,
                 few_thr: float = 20,
                 with_per_class: bool = True,
                 nll: Optional[str] = None,
                 nll_tau: float = 1.0,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)
        self.many_thr = _check_threshold(many_thr, 'many_thr')
        self.few_thr = _check_threshold(few_thr, 'few_thr')
        if self.few_thr > self.many_thr:
            raise ValueError(f'ShotGroupMetric: few_thr={few_thr} must not '
                             f'exceed many_thr={many_thr}')
        self.with_per_class = with_per_class
        if nll not in NLL_KINDS:
            raise ValueError(f'ShotGroupMetric: nll must be one of '
                             f'{NLL_KINDS}, got {nll!r}')
        self.nll = nll
        self.nll_tau = float(nll_tau)
        self.class_counts: Optional[np.ndarray] = None
        if class_counts is not None:
            self.set_class_counts(class_counts)

    @property
    def num_classes(self) -> int:
        """The number of classes ``K`` of the training counts."""
        self._require_counts()
        return len(self.class_counts)

    def set_class_counts(self, counts: CountsLike) -> None:
        """Set the training counts and derive the class groups.

        Args:
            counts (str | Sequence[int] | np.ndarray): ``K`` training counts
                in the original class order (or a JSON path).
        """
        counts = load_class_counts(counts)
        head_ids, tail_ids = split_head_tail(counts)
        self.class_counts = counts
        self.groups = shot_groups(counts, self.many_thr, self.few_thr)
        self.task_classes = {
            'head': np.sort(head_ids),
            'tail': np.sort(tail_ids)
        }
        # owner[c] = 0 if class c is in the head task, 1 if in the tail task
        self._owner = np.zeros(len(counts), dtype=np.int64)
        self._owner[tail_ids] = 1
        self._task_mask = torch.zeros(2, len(counts), dtype=torch.bool)
        self._task_mask[0, torch.as_tensor(head_ids)] = True
        self._task_mask[1, torch.as_tensor(tail_ids)] = True
        prior = torch.as_tensor(counts, dtype=torch.float64)
        prior = prior / prior.sum()
        self._log_prior_odds = torch.log(prior) - torch.log1p(-prior)
        sizes = '/'.join(str(len(v)) for v in self.groups.values())
        print_log(
            f'ShotGroupMetric: {len(counts)} classes, many/medium/few = '
            f'{sizes} (many > {self.many_thr}, few < {self.few_thr}), '
            f'head/tail = {len(head_ids)}/{len(tail_ids)}',
            logger='current')

    def _require_counts(self) -> None:
        """Raise a clear error when the training counts are unknown."""
        if self.class_counts is None:
            raise RuntimeError(
                f'ShotGroupMetric has no class counts: {MISSING_COUNTS_HINT}')

    def _gt_label(self, sample: dict) -> int:
        """The sample's class id, checked against ``K``."""
        gt = sample.get('gt_label', None)
        if gt is None or torch.as_tensor(gt).numel() != 1:
            raise ValueError('ShotGroupMetric needs one gt_label per sample, '
                             f'got {gt!r}')
        gt = int(torch.as_tensor(gt).reshape(-1)[0])
        if not 0 <= gt < self.num_classes:
            raise ValueError(
                f'ShotGroupMetric: gt_label {gt} is outside '
                f'0..{self.num_classes - 1}; the class counts have '
                f'{self.num_classes} classes')
        return gt

    @staticmethod
    def _pred_label(sample: dict) -> int:
        """The sample's ``pred_label`` (used when it has no ``pred_score``)."""
        label = sample.get('pred_label', None)
        if label is None or torch.as_tensor(label).numel() != 1:
            raise ValueError('ShotGroupMetric needs a pred_score or one '
                             f'pred_label per sample, got {label!r}')
        return int(torch.as_tensor(label).reshape(-1)[0])

    def _task_prediction(self, score: torch.Tensor, gt: int) -> int:
        """Argmax of ``score`` within the task owning ``gt`` (-1: none)."""
        own = self._task_mask[self._owner[gt]]
        task_scores = score[own]
        if bool((task_scores == task_scores[0]).all()):
            return -1
        return int(score.masked_fill(~own, -float('inf')).argmax())

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Store ``gt_label``, ``pred_label`` and the task prediction.

        The task prediction is the argmax of ``pred_score`` restricted to
        the classes of the task that owns ``gt_label``; it is ``-1`` (none)
        without ``pred_score`` or when those scores are all equal. Only
        three ints per sample are kept.

        Args:
            data_batch: Unused.
            data_samples (Sequence[dict]): Model outputs with ``gt_label``
                and ``pred_score`` or ``pred_label``.
        """
        self._require_counts()
        for sample in data_samples:
            gt = self._gt_label(sample)
            score = sample.get('pred_score', None)
            if score is None:
                pred = self._pred_label(sample)
                task_pred = -1
            else:
                score = torch.as_tensor(score).detach().cpu().reshape(-1)
                if score.numel() != self.num_classes:
                    raise ValueError(
                        f'ShotGroupMetric: pred_score has {score.numel()} '
                        f'classes, the class counts have {self.num_classes}')
                pred = int(score.argmax())
                task_pred = self._task_prediction(score, gt)
            result = dict(
                gt_label=gt, pred_label=pred, task_pred_label=task_pred)
            if self.nll is not None:
                if score is None:
                    raise ValueError(
                        f'ShotGroupMetric(nll={self.nll!r}) needs the '
                        'pred_score of every sample')
                result.update(self.sample_nll(score, gt))
            self.results.append(result)

    def sample_nll(self, score: torch.Tensor, gt: int) -> Dict[str, float]:
        """The test NLL terms of one sample (see the class docstring).

        Args:
            score (torch.Tensor): The sample's ``pred_score``, ``(K,)``.
            gt (int): Its class.

        Returns:
            dict: ``{'nll': ...}``, plus ``'nll_raw'`` for ``'sigmoid'``.
        """
        score = score.to(torch.float64).clamp(_TINY, 1.0 - _EPS32)
        if self.nll == 'softmax':
            return dict(nll=float(-torch.log(score[gt])))
        logits = torch.log(score) - torch.log1p(-score)
        target = torch.zeros_like(logits)
        target[gt] = 1.0
        adjusted = logits + self.nll_tau * self._log_prior_odds
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        return dict(
            nll=float(bce(adjusted, target, reduction='sum')),
            nll_raw=float(bce(logits, target, reduction='sum')))

    def compute_metrics(self, results: List[dict]) -> Dict[str, object]:
        """Compute the accuracies from the gathered per-sample results.

        Args:
            results (list[dict]): Results of :meth:`process` from all ranks.

        Returns:
            dict: See the class docstring for the keys.
        """
        self._require_counts()
        if len(results) == 0:
            raise ValueError('ShotGroupMetric got no results to evaluate')
        gt = np.array([r['gt_label'] for r in results], dtype=np.int64)
        pred = np.array([r['pred_label'] for r in results], dtype=np.int64)
        task_pred = np.array([r['task_pred_label'] for r in results],
                             dtype=np.int64)
        per_class = self.per_class_accuracy(gt, pred)

        metrics: Dict[str, object] = {
            'top1': float(100.0 * np.mean(pred == gt)),
            'mean_class_acc': float(np.nanmean(per_class)),
        }
        named_groups = dict(self.groups)
        named_groups.update({
            f'{t}_acc': ids
            for t, ids in self.task_classes.items()
        })
        for name, ids in named_groups.items():
            value = self._group_mean(per_class, ids, name)
            if value is not None:
                metrics[name] = value
        for index, task in enumerate(TASK_NAMES):
            mine = self._owner[gt] == index
            if (task_pred[mine] >= 0).any():
                metrics[f'{task}_task_acc'] = float(
                    100.0 * np.mean(task_pred[mine] == gt[mine]))
        for key in ('nll', 'nll_raw'):
            if key in results[0]:
                metrics[key] = float(np.mean([r[key] for r in results]))
        if self.with_per_class:
            metrics['per_class_acc'] = per_class.tolist()
        return metrics

    def per_class_accuracy(self, gt: np.ndarray,
                           pred: np.ndarray) -> np.ndarray:
        """Per-class accuracy in percent (``nan`` for absent classes).

        Args:
            gt (np.ndarray): Ground-truth class ids ``(N,)``.
            pred (np.ndarray): Predicted class ids ``(N,)``.

        Returns:
            np.ndarray: float64 ``(K,)``.
        """
        num = self.num_classes
        total = np.bincount(gt, minlength=num)
        hits = np.bincount(gt[pred == gt], minlength=num)
        acc = np.full(num, np.nan)
        seen = total > 0
        acc[seen] = 100.0 * hits[seen] / total[seen]
        return acc

    @staticmethod
    def _group_mean(per_class: np.ndarray, ids: np.ndarray,
                    name: str) -> Optional[float]:
        """Mean accuracy of the evaluated classes of a group, or None."""
        values = per_class[ids]
        values = values[~np.isnan(values)]
        if len(values) == 0:
            print_log(
                f'ShotGroupMetric: group {name!r} has no class with '
                'evaluation samples; it is left out of the results',
                logger='current',
                level=logging.WARNING)
            return None
        return float(values.mean())
