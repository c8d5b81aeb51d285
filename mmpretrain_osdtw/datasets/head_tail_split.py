"""The head/tail split of the classes into two tasks, and its dataset wrapper.

OSDTW trains two tasks on the same images: the *head* task over the frequent
classes and the *tail* task over the rare ones. The split rule lives here, in
one function, :func:`split_head_tail` (in
:mod:`mmpretrain_osdtw.utils.head_tail`, below the datasets and the heads
that both apply it; re-exported here):

- sort the classes by training count, descending; ties go to the smaller
  class id first;
- the first ``K // 2`` classes form the head task, the other ``K - K // 2``
  the tail task (for odd ``K`` the tail gets the extra class);
- task index ``i`` of a task is the original class id ``ids[i]``.

Both tasks see all ``N`` training samples: a sample of the other group gets
an all-zero task target, and the task priors are the global priors
``pi_c = n_c / sum_j n_j`` restricted to the task's classes (not
renormalised).
"""
import copy
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.dataset import BaseDataset, force_full_init
from mmpretrain.registry import DATASETS

from mmpretrain_osdtw.utils.class_counts import load_class_counts
from mmpretrain_osdtw.utils.head_tail import (TASKS, check_task,  # noqa: F401
                                              split_head_tail,
                                              task_index_map, task_num_classes)
from .class_counts import describe_dataset, get_class_counts

def task_target(label: int, task_index_map: np.ndarray) -> torch.Tensor:
    """One-hot target of a sample in a task's class order.

    Args:
        label (int): Original class id of the sample.
        task_index_map (np.ndarray): Length-``K`` map from original id to
            task index (``-1`` outside the task), see :func:`task_index_map`.

    Returns:
        torch.Tensor: ``float32`` vector over the task's classes: one-hot at
        the sample's task index, all zeros for a sample of the other group.

    Example:
        >>> task_target(3, np.array([-1, 0, -1, 1])).tolist()
        [0.0, 1.0]
    """
    index_map = np.asarray(task_index_map)
    label = int(label)
    if not 0 <= label < len(index_map):
        raise ValueError(f'label {label} is outside 0..{len(index_map) - 1}')
    target = torch.zeros(int((index_map >= 0).sum()), dtype=torch.float32)
    if index_map[label] >= 0:
        target[index_map[label]] = 1.
    return target


@DATASETS.register_module()
class HeadTailSplit:
    """Dataset wrapper that attaches head/tail task targets to each sample.

    It keeps every sample of the wrapped dataset in its order, splits the
    classes with :func:`split_head_tail` on the training counts and adds to
    each sample's ``DataSample`` a ``head_target`` and/or ``tail_target``
    field (see :func:`task_target`).

    The targets are one-hot and are not touched by batch augments: with
    Mixup/CutMix, task heads slice the K-dim ``gt_score`` instead.

    Args:
        dataset (BaseDataset | dict): The labelled dataset to wrap.
        task (str): Which targets to attach: ``'head'``, ``'tail'`` or
            ``'both'``. Defaults to ``'both'``.
        train_class_counts (Sequence[int] | str, optional): Training counts
            that define the split and the priors (list or JSON path). Defaults
            to the wrapped dataset's own counts, which is right for the
            training set; pass the training counts when wrapping a val/test
            set.
        lazy_init (bool): Whether to defer loading the wrapped dataset.
            Defaults to False.

    Example:
        >>> dataset = HeadTailSplit(
        ...     dict(type='LongTailedDataset',
        ...          dataset=dict(type='CIFAR10', data_root='data/cifar10',
        ...                       split='train', pipeline=train_pipeline),
        ...          imb_ratio=100),
        ...     task='both')  # doctest: +SKIP
        >>> dataset.head_classes.tolist()  # doctest: +SKIP
        [0, 1, 2, 3, 4]
    """

    def __init__(self,
                 dataset: Union[BaseDataset, dict],
                 task: str = 'both',
                 train_class_counts: Optional[Union[Sequence[int],
                                                    str]] = None,
                 lazy_init: bool = False):
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        if not hasattr(dataset, '__getitem__') or not hasattr(
                dataset, '__len__'):
            raise TypeError('dataset must be a dataset or its config dict, '
                            f'got {type(dataset).__name__}')
        self.dataset = dataset
        self.task = check_task(task, allow_none=False)
        self._train_counts_source = train_class_counts
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """The wrapped dataset's meta information."""
        return copy.deepcopy(self.dataset.metainfo)

    def full_init(self) -> None:
        """Count the classes and compute the split (once)."""
        if self._fully_initialized:
            return
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        self._class_counts = get_class_counts(self.dataset)
        if self._train_counts_source is None:
            self._train_class_counts = self._class_counts.copy()
        else:
            self._train_class_counts = load_class_counts(
                self._train_counts_source)
        num_classes = len(self._class_counts)
        if len(self._train_class_counts) != num_classes:
            raise ValueError(
                f'train_class_counts has {len(self._train_class_counts)} '
                f'classes but {describe_dataset(self.dataset)} has '
                f'{num_classes}')
        self._head_classes, self._tail_classes = split_head_tail(
            self._train_class_counts)
        self._index_maps = {
            'head': task_index_map(self._head_classes, num_classes),
            'tail': task_index_map(self._tail_classes, num_classes),
        }
        self._fully_initialized = True

    @property
    @force_full_init
    def class_counts(self) -> np.ndarray:
        """Samples per class of the wrapped dataset (length ``K``)."""
        return self._class_counts.copy()

    @property
    @force_full_init
    def train_class_counts(self) -> np.ndarray:
        """Training counts that define the split and the priors."""
        return self._train_class_counts.copy()

    @property
    @force_full_init
    def head_classes(self) -> np.ndarray:
        """Original ids of the head task's classes, in task order."""
        return self._head_classes.copy()

    @property
    @force_full_init
    def tail_classes(self) -> np.ndarray:
        """Original ids of the tail task's classes, in task order."""
        return self._tail_classes.copy()

    @property
    def num_classes(self) -> int:
        """The number of classes ``K``."""
        return len(self.class_counts)

    @force_full_init
    def class_map(self, task: Optional[str]) -> np.ndarray:
        """Original class id of each task index (all ids for ``'both'``)."""
        task = check_task(task)
        if task == 'both':
            return np.arange(len(self._class_counts), dtype=np.int64)
        return (self._head_classes
                if task == 'head' else self._tail_classes).copy()

    @force_full_init
    def task_index(self, task: Optional[str]) -> np.ndarray:
        """Length-``K`` map from original id to task index (``-1``: absent)."""
        task = check_task(task)
        if task == 'both':
            return np.arange(len(self._class_counts), dtype=np.int64)
        return self._index_maps[task].copy()

    @force_full_init
    def class_priors(self, task: Optional[str] = None) -> np.ndarray:
        """Global priors ``n_c / N`` of a task's classes in task order.

        Not renormalised: the head and tail priors sum to 1 together.
        """
        counts = self._train_class_counts
        priors = counts / counts.sum()
        return priors[self.class_map(task)]

    @force_full_init
    def task_of_class(self, class_id: int) -> str:
        """``'head'`` or ``'tail'``: the task that owns an original class."""
        if not 0 <= int(class_id) < len(self._class_counts):
            raise ValueError(f'class id {class_id} is outside '
                             f'0..{len(self._class_counts) - 1}')
        return 'head' if self._index_maps['head'][class_id] >= 0 else 'tail'

    @property
    def target_tasks(self) -> List[str]:
        """The tasks whose targets ``__getitem__`` attaches."""
        return ['head', 'tail'] if self.task == 'both' else [self.task]

    def _sample_label(self, idx: int, data_sample) -> int:
        """The sample's class id, from its ``gt_label`` or the dataset."""
        gt_label = getattr(data_sample, 'gt_label', None)
        if gt_label is not None and torch.as_tensor(gt_label).numel() == 1:
            return int(torch.as_tensor(gt_label).reshape(-1)[0])
        return int(self.dataset.get_cat_ids(idx)[0])

    @force_full_init
    def __getitem__(self, idx: int) -> dict:
        results = self.dataset[idx]
        if not isinstance(results, dict) or 'data_samples' not in results:
            got = (f'keys {sorted(results)}'
                   if isinstance(results, dict) else type(results).__name__)
            raise ValueError(
                f'{type(self).__name__} needs samples packed by the pipeline '
                "(a dict with 'data_samples', e.g. from PackInputs), but "
                f'{describe_dataset(self.dataset)} returned {got}')
        data_sample = results['data_samples']
        label = self._sample_label(idx, data_sample)
        for task in self.target_tasks:
            data_sample.set_field(
                task_target(label, self._index_maps[task]),
                f'{task}_target',
                field_type='data')
        return results

    @force_full_init
    def __len__(self) -> int:
        return len(self.dataset)

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """The wrapped dataset's annotation of sample ``idx``."""
        return self.dataset.get_data_info(idx)

    @force_full_init
    def get_cat_ids(self, idx: int) -> List[int]:
        """The wrapped dataset's category ids of sample ``idx``."""
        return self.dataset.get_cat_ids(idx)

    def __repr__(self) -> str:
        head = f'Dataset {type(self).__name__}'
        if not self._fully_initialized:
            return f'{head}\n    Haven\'t been initialized'
        return (f'{head}\n    task: {self.task}\n'
                f'    number of samples: {len(self)}\n'
                f'    head classes: {len(self._head_classes)}\n'
                f'    tail classes: {len(self._tail_classes)}\n'
                f'    wrapped: {describe_dataset(self.dataset)}')
