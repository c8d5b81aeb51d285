"""Long-tailed subsets of balanced datasets (the CIFAR-LT protocol).

The protocol of LDAM-DRW (Cao et al., NeurIPS 2019), used for CIFAR-10-LT and
CIFAR-100-LT by LiVT, PaCo and DeiT-LT:

- ``'exp'`` profile: class ``i`` (label order) keeps
  ``n_i = int(n_max * (1 / imb_ratio) ** (i / (K - 1)))`` samples;
- ``'step'`` profile: the first ``K // 2`` classes keep ``n_max``, the others
  ``int(n_max * (1 / imb_ratio))``;
- the kept samples of class ``i`` are the first ``n_i`` of its indices after
  a shuffle, drawn class by class in label order from one
  ``np.random.RandomState(seed)``. With ``seed=0`` this is exactly LDAM-DRW's
  ``np.random.seed(0)`` followed by ``np.random.shuffle`` per class, so the
  same images are kept, in the same order (class by class, shuffled order
  within a class).

``n_max`` is the largest class size of the base dataset (5,000 for CIFAR-10,
500 for CIFAR-100). CIFAR-10-LT keeps 12,406 / 13,996 / 20,431 images for
imbalance ratio 100 / 50 / 10; CIFAR-100-LT keeps 10,847 / 12,608 / 19,573.

Two options of :class:`LongTailedDataset` go beyond the protocol:

- ``class_order``: which class gets which count. ``class_order[i]`` is the
  class that keeps the ``i``-th count of the profile (``class_order[0]``
  keeps ``n_max``); the shuffles still run class by class in label order
  from the same generator, so the default (label order) is the protocol.
- ``split='heldout'``: the images the subsampling LEFT OUT, up to
  ``heldout_per_class`` of each class (the first ones of its shuffled
  indices after the kept ones), e.g. a balanced validation set drawn from
  the training images without touching the long-tailed training set. A
  class with fewer left-out images gives all it has (at imbalance ratio 100
  the largest CIFAR class keeps all of its images, so it gives none).
"""
import copy
import logging
import math
from numbers import Real
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset, force_full_init
from mmengine.logging import print_log
from mmpretrain.registry import DATASETS

from .class_counts import describe_dataset, get_labels, get_num_classes

IMB_TYPES = ('exp', 'step')
SPLITS = ('long_tailed', 'heldout')


def long_tailed_counts(n_max: int,
                       num_classes: int,
                       imb_ratio: float,
                       imb_type: str = 'exp') -> np.ndarray:
    """Per-class sample counts of the long-tailed profile.

    Args:
        n_max (int): Samples of the largest (first) class.
        num_classes (int): The number of classes ``K`` (at least 2).
        imb_ratio (float): Imbalance ratio ``n_max / n_min`` (at least 1).
        imb_type (str): ``'exp'`` or ``'step'``. Defaults to ``'exp'``.

    Returns:
        np.ndarray: ``int64`` counts of length ``K`` in label order.

    Raises:
        ValueError: On ``imb_ratio < 1``, ``K < 2``, an unknown ``imb_type``
            or a profile that leaves a class without samples.

    Example:
        >>> int(long_tailed_counts(5000, 10, 100).sum())
        12406
    """
    _check_profile_args(imb_ratio, imb_type)
    if num_classes < 2:
        raise ValueError('a long-tailed profile needs at least 2 classes, got '
                         f'K={num_classes}')
    imb_factor = 1.0 / imb_ratio
    if imb_type == 'exp':
        counts = [
            int(n_max * imb_factor**(i / (num_classes - 1.0)))
            for i in range(num_classes)
        ]
    else:
        num_head = num_classes // 2
        counts = [int(n_max)] * num_head + [int(n_max * imb_factor)] * (
            num_classes - num_head)
    counts = np.asarray(counts, dtype=np.int64)
    empty = np.flatnonzero(counts < 1)
    if len(empty):
        raise ValueError(
            f'imb_ratio={imb_ratio} is too large for n_max={n_max}: class(es) '
            f'{", ".join(str(c) for c in empty)} would keep no sample')
    return counts


def _check_profile_args(imb_ratio: float, imb_type: str) -> None:
    """Validate ``imb_ratio`` and ``imb_type``."""
    if isinstance(imb_ratio, bool) or not isinstance(imb_ratio, Real):
        raise TypeError(
            f'imb_ratio must be a number, got {type(imb_ratio).__name__}')
    if not math.isfinite(imb_ratio) or imb_ratio < 1:
        raise ValueError('imb_ratio (n_max / n_min) must be a finite number '
                         f'>= 1, got {imb_ratio}')
    if imb_type not in IMB_TYPES:
        raise ValueError(
            f'imb_type must be one of {IMB_TYPES}, got {imb_type!r}')


def select_long_tailed_indices(labels: np.ndarray,
                               counts: np.ndarray,
                               seed: int = 0) -> np.ndarray:
    """Indices of the samples the long-tailed subset keeps.

    For each class in label order: take the indices of its samples (in
    dataset order), shuffle them with one ``np.random.RandomState(seed)``
    shared by all classes, keep the first ``counts[c]``.

    Args:
        labels (np.ndarray): Class id of every base sample, shape ``(N,)``.
        counts (np.ndarray): Samples to keep per class, length ``K``.
        seed (int): Seed of the shuffles. Defaults to 0 (LDAM-DRW).

    Returns:
        np.ndarray: ``int64`` base indices, class by class.

    Raises:
        ValueError: If a class has fewer samples than it must keep (the
            message names every such class).
    """
    return split_long_tailed_indices(labels, counts, seed)[0]


def split_long_tailed_indices(labels: np.ndarray,
                              counts: np.ndarray,
                              seed: int = 0,
                              heldout_per_class: int = 0
                              ) -> Tuple[np.ndarray, np.ndarray]:
    """The kept indices (:func:`select_long_tailed_indices`) and up to
    ``heldout_per_class`` left-out indices per class, from the same
    shuffles.

    The left-out indices of class ``c`` are the next ones of its shuffled
    indices after the ``counts[c]`` kept ones, so they never overlap the
    kept ones and do not depend on ``heldout_per_class`` beyond how many
    are taken.

    Args:
        labels (np.ndarray): Class id of every base sample, shape ``(N,)``.
        counts (np.ndarray): Samples to keep per class, length ``K``.
        seed (int): Seed of the shuffles. Defaults to 0 (LDAM-DRW).
        heldout_per_class (int): Left-out samples to take per class (fewer
            where a class has fewer). Defaults to 0.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``int64`` kept and held-out base
        indices, each class by class.

    Raises:
        ValueError: If a class has fewer samples than it must keep.
    """
    labels = np.asarray(labels, dtype=np.int64)
    available = np.bincount(labels, minlength=len(counts))
    short = np.flatnonzero(available[:len(counts)] < counts)
    if len(short):
        details = ', '.join(f'class {c} needs {counts[c]} but has '
                            f'{available[c]}' for c in short[:10])
        raise ValueError(f'{len(short)} class(es) have too few samples for '
                         f'the long-tailed profile: {details}')
    rng = np.random.RandomState(seed)
    kept, heldout = [], []
    for class_id, num in enumerate(counts):
        idx = np.where(labels == class_id)[0]
        rng.shuffle(idx)
        kept.append(idx[:num])
        heldout.append(idx[num:num + heldout_per_class])
    return (np.concatenate(kept).astype(np.int64),
            np.concatenate(heldout).astype(np.int64))


def check_class_order(class_order: Optional[Sequence[int]],
                      num_classes: int) -> np.ndarray:
    """``class_order`` as an int64 permutation of ``0..K-1`` (label order
    for None).

    Raises:
        ValueError: If it is not a permutation of the ``K`` class ids.
    """
    if class_order is None:
        return np.arange(num_classes, dtype=np.int64)
    order = np.asarray(list(class_order), dtype=np.int64)
    if sorted(order.tolist()) != list(range(num_classes)):
        raise ValueError(f'class_order must be a permutation of the '
                         f'{num_classes} class ids 0..{num_classes - 1}, got '
                         f'{list(class_order)}')
    return order


def ordered_long_tailed_counts(n_max: int,
                               num_classes: int,
                               imb_ratio: float,
                               imb_type: str = 'exp',
                               class_order: Optional[Sequence[int]] = None
                               ) -> np.ndarray:
    """:func:`long_tailed_counts` given to the classes in ``class_order``
    (``class_order[i]`` keeps the ``i``-th count), in label order.

    Example:
        >>> ordered_long_tailed_counts(5000, 3, 100, class_order=[2, 0, 1]
        ...                            ).tolist()
        [500, 50, 5000]
    """
    profile = long_tailed_counts(n_max, num_classes, imb_ratio, imb_type)
    order = check_class_order(class_order, num_classes)
    counts = np.empty_like(profile)
    counts[order] = profile
    return counts


@DATASETS.register_module()
class LongTailedDataset:
    """Dataset wrapper that keeps a long-tailed subset of a labelled dataset.

    See the module docstring for the protocol. Use it on training splits
    only; the test split stays balanced.

    Args:
        dataset (BaseDataset | dict): The labelled base dataset (usually a
            balanced training split) or its config.
        imb_ratio (float): Imbalance ratio ``n_max / n_min``, at least 1.
            Defaults to 100.
        imb_type (str): ``'exp'`` or ``'step'``. Defaults to ``'exp'``.
        seed (int): Seed of the per-class shuffles. Defaults to 0, which
            reproduces LDAM-DRW's CIFAR-LT subsets.
        class_order (Sequence[int], optional): A permutation of the class
            ids: ``class_order[i]`` keeps the ``i``-th count of the profile
            (``class_order[0]`` the most images). Defaults to None (label
            order, the protocol).
        split (str): ``'long_tailed'`` (the kept samples, default) or
            ``'heldout'`` (up to ``heldout_per_class`` of the samples the
            subsampling left out, per class; see the module docstring).
        heldout_per_class (int): Held-out samples per class of the
            ``'heldout'`` split. Defaults to 100.
        lazy_init (bool): Whether to defer loading the base dataset and
            choosing the subset. Defaults to False.

    Example:
        >>> train_dataloader = dict(dataset=dict(
        ...     type='LongTailedDataset', imb_ratio=100,
        ...     dataset=dict(type='CIFAR10', data_root='data/cifar10',
        ...                  split='train', pipeline=train_pipeline)))
        ... # doctest: +SKIP
    """

    def __init__(self,
                 dataset: Union[BaseDataset, dict],
                 imb_ratio: float = 100.,
                 imb_type: str = 'exp',
                 seed: int = 0,
                 class_order: Optional[Sequence[int]] = None,
                 split: str = 'long_tailed',
                 heldout_per_class: int = 100,
                 lazy_init: bool = False):
        _check_profile_args(imb_ratio, imb_type)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f'seed must be an int, got {type(seed).__name__}')
        if split not in SPLITS:
            raise ValueError(f'{type(self).__name__}: split must be one of '
                             f'{SPLITS}, got {split!r}')
        if isinstance(heldout_per_class, bool) or not isinstance(
                heldout_per_class, (int, np.integer)) or heldout_per_class < 1:
            raise ValueError(f'{type(self).__name__}: heldout_per_class must '
                             f'be an int >= 1, got {heldout_per_class!r}')
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        if not hasattr(dataset, '__getitem__') or not hasattr(
                dataset, '__len__'):
            raise TypeError('dataset must be a dataset or its config dict, '
                            f'got {type(dataset).__name__}')
        self.dataset = dataset
        self.imb_ratio = float(imb_ratio)
        self.imb_type = imb_type
        self.seed = int(seed)
        self.class_order = None if class_order is None else [
            int(c) for c in class_order
        ]
        self.split = split
        self.heldout_per_class = int(heldout_per_class)
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """The base dataset's meta information."""
        return copy.deepcopy(self.dataset.metainfo)

    def full_init(self) -> None:
        """Load the base dataset and choose the subset (once)."""
        if self._fully_initialized:
            return
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        name = describe_dataset(self.dataset)
        num_classes = get_num_classes(self.dataset)
        if num_classes < 2:
            raise ValueError(f'{type(self).__name__} needs at least 2 classes,'
                             f' but {name} has K={num_classes}')
        labels = get_labels(self.dataset, num_classes)
        base_counts = np.bincount(labels, minlength=num_classes)
        if len(labels) == 0:
            raise ValueError(f'{name} is empty')
        try:
            counts = ordered_long_tailed_counts(
                int(base_counts.max()), num_classes, self.imb_ratio,
                self.imb_type, self.class_order)
            kept, heldout = split_long_tailed_indices(
                labels, counts, self.seed,
                self.heldout_per_class if self.split == 'heldout' else 0)
        except ValueError as err:
            raise ValueError(
                f'{name} (n_max={base_counts.max()}) cannot give the '
                f'{self.imb_type} profile with imb_ratio={self.imb_ratio}: '
                f'{err}') from err
        indices = kept if self.split == 'long_tailed' else heldout
        self._base_class_counts = base_counts.astype(np.int64)
        self._long_tailed_counts = counts
        self._labels = labels[indices]
        self._class_counts = np.bincount(
            self._labels, minlength=num_classes).astype(np.int64)
        self._indices = indices
        self._fully_initialized = True
        if self.split == 'heldout':
            self._warn_short_classes()

    def _warn_short_classes(self) -> None:
        """Log the classes that give fewer held-out samples than asked."""
        short = np.flatnonzero(self._class_counts < self.heldout_per_class)
        if len(short):
            details = ', '.join(f'class {c}: {self._class_counts[c]}'
                                for c in short)
            print_log(
                f'{type(self).__name__} (heldout): fewer than '
                f'{self.heldout_per_class} left-out samples in {details} '
                '(the long-tailed subset keeps the rest)',
                logger='current',
                level=logging.WARNING)

    @property
    @force_full_init
    def class_counts(self) -> np.ndarray:
        """Samples per class of this split (length ``K``): the long-tailed
        counts, or the held-out ones."""
        return self._class_counts.copy()

    @property
    @force_full_init
    def long_tailed_counts(self) -> np.ndarray:
        """Samples per class of the long-tailed subset (length ``K``), for
        either split."""
        return self._long_tailed_counts.copy()

    @property
    @force_full_init
    def base_class_counts(self) -> np.ndarray:
        """Samples per class of the base dataset (length ``K``)."""
        return self._base_class_counts.copy()

    @property
    @force_full_init
    def indices(self) -> np.ndarray:
        """Base-dataset index of each kept sample."""
        return self._indices.copy()

    @force_full_init
    def get_gt_labels(self) -> np.ndarray:
        """Class id of every kept sample, shape ``(N,)``."""
        return self._labels.copy()

    @force_full_init
    def get_cat_ids(self, idx: int) -> List[int]:
        """Category ids of sample ``idx``."""
        return [int(self._labels[idx])]

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """The base dataset's annotation of sample ``idx``."""
        return self.dataset.get_data_info(int(self._indices[idx]))

    @force_full_init
    def __getitem__(self, idx: int) -> dict:
        return self.dataset[int(self._indices[idx])]

    @force_full_init
    def __len__(self) -> int:
        return len(self._indices)

    def __repr__(self) -> str:
        head = f'Dataset {type(self).__name__}'
        if not self._fully_initialized:
            return f'{head}\n    Haven\'t been initialized'
        return (f'{head}\n    imb_type: {self.imb_type}, imb_ratio: '
                f'{self.imb_ratio}, seed: {self.seed}, split: {self.split}'
                f', class_order: {self.class_order or "label order"}\n'
                f'    number of samples: {len(self)} of '
                f'{int(self._base_class_counts.sum())}\n'
                f'    samples per class: max {self._class_counts.max()}, '
                f'min {self._class_counts.min()}\n'
                f'    wrapped: {describe_dataset(self.dataset)}')
