"""Per-class training sample counts: the one source every component reads.

A *class counts* array is a 1-D ``int64`` numpy array of length ``K`` (the
number of classes, in the original class order) holding the number of
training samples of each class. It defines the class priors
``pi_c = n_c / sum_j n_j``, the head/tail split and the Many/Medium/Few
groups.

Two ways to get one:

- :func:`get_class_counts` counts the labels of a dataset (an MMPretrain
  dataset such as ``CIFAR10``, ``CustomDataset`` or ``ImageNet``, an mmengine
  dataset wrapper, or one of this package's wrappers, which expose
  ``class_counts`` directly).
- :func:`~mmpretrain_osdtw.utils.class_counts.load_class_counts` reads them
  from a config value: a list of ints or the path of a JSON file holding such
  a list (it lives in :mod:`mmpretrain_osdtw.utils`, below both the datasets
  and the models that read counts; re-exported here).

:func:`check_class_counts` says whether counts fit a ``K``-class problem
(``K`` entries, no class without a training sample).
"""
from numbers import Integral
from typing import Optional, Sequence

import numpy as np
import torch

from mmpretrain_osdtw.utils.class_counts import (CountsSource,  # noqa: F401
                                                 load_class_counts)


def describe_dataset(dataset) -> str:
    """Name a dataset for error messages: its class and annotation file.

    Wrappers are followed through their ``dataset`` attribute to the first
    dataset that names an annotation file.

    Args:
        dataset: Any dataset object.

    Returns:
        str: e.g. ``"CustomDataset (ann_file 'data/train.txt')"``.
    """
    name = type(dataset).__name__
    inner = dataset
    for _ in range(16):  # wrappers are shallow; guard against cycles
        ann_file = getattr(inner, 'ann_file', None)
        if ann_file:
            return f'{name} (ann_file {ann_file!r})'
        if not hasattr(inner, 'dataset'):
            break
        inner = inner.dataset
    return name


def get_num_classes(dataset) -> int:
    """Number of classes of a dataset, from ``metainfo['classes']``.

    Args:
        dataset: A dataset with a ``metainfo`` dict (every MMPretrain and
            mmengine dataset and wrapper) or a ``CLASSES`` attribute.

    Returns:
        int: The number of classes ``K``.

    Raises:
        ValueError: If the dataset names no classes.
    """
    classes = None
    metainfo = getattr(dataset, 'metainfo', None)
    if isinstance(metainfo, dict):
        classes = metainfo.get('classes', None)
    if classes is None:
        classes = getattr(dataset, 'CLASSES', None)
    if classes is None:
        raise ValueError(
            f'{describe_dataset(dataset)} names no classes, so the number of '
            "classes is unknown: set `metainfo=dict(classes=[...])` or "
            '`classes=<list or file>` on the dataset.')
    return len(classes)


def _check_has_labels(dataset) -> None:
    """Raise if the dataset is declared unlabeled (``with_label=False``)."""
    inner = dataset
    for _ in range(16):
        if getattr(inner, 'with_label', True) is False:
            raise ValueError(
                f'{describe_dataset(dataset)} has no labels '
                f'({type(inner).__name__} was built with with_label=False); '
                'class counts need a labelled (training) dataset.')
        if not hasattr(inner, 'dataset'):
            return
        inner = inner.dataset


def _label_to_int(label, index: int, dataset) -> int:
    """Convert one ``gt_label`` value to an int, rejecting multi-labels."""
    if isinstance(label, torch.Tensor):
        label = label.cpu().numpy()
    if isinstance(label, (np.ndarray, list, tuple)):
        flat = np.asarray(label, dtype=object).reshape(-1)
        if len(flat) == 0:
            label = None
        elif len(flat) == 1:
            label = flat[0]
    if label is None:
        raise ValueError(f'{describe_dataset(dataset)}: sample {index} has no '
                         'gt_label (unlabeled data cannot be counted).')
    if isinstance(label, (bool, np.bool_)) or not isinstance(label, Integral):
        raise ValueError(
            f'{describe_dataset(dataset)}: sample {index} has gt_label '
            f'{label!r}, which is not one integer class id (multi-label '
            'datasets are not supported).')
    return int(label)


def _raw_label(dataset, index: int):
    """Read the ``gt_label`` of one sample without running the pipeline."""
    if hasattr(dataset, 'get_data_info'):
        info = dataset.get_data_info(index)
        return info.get('gt_label', None), info
    cat_ids = dataset.get_cat_ids(index)
    return list(cat_ids), {}


def _check_range(label: int, index: int, info: dict, num_classes: int,
                 dataset) -> None:
    """Raise if a label is -1 (unlabeled) or outside ``0..K-1``."""
    if 0 <= label < num_classes:
        return
    where = f'{describe_dataset(dataset)}: sample {index}'
    if 'img_path' in info:
        where += f" ({info['img_path']})"
    if label == -1:
        raise ValueError(f'{where} has gt_label -1, i.e. it is unlabeled; '
                         'class counts need a labelled (training) dataset.')
    raise ValueError(f'{where} has label {label}, outside 0..{num_classes - 1}'
                     f' (the dataset has {num_classes} classes).')


def get_labels(dataset, num_classes: Optional[int] = None) -> np.ndarray:
    """Ground-truth class id of every sample, checked against ``K``.

    Labels are read from ``get_data_info`` (without loading images) for
    MMPretrain/mmengine datasets and wrappers, or from ``get_cat_ids`` for
    other objects.

    Args:
        dataset: A labelled single-label dataset (see module docstring).
        num_classes (int, optional): The number of classes ``K``. Defaults to
            the length of ``dataset.metainfo['classes']``.

    Returns:
        np.ndarray: ``int64`` array of shape ``(N,)``.

    Raises:
        ValueError: If the dataset is unlabeled, a sample has no label or a
            multi-label, or a label is outside ``0..K-1`` (the message names
            the sample index, its image and the annotation file when known).
    """
    _check_has_labels(dataset)
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    if num_classes is None:
        num_classes = get_num_classes(dataset)
    labels = np.empty(len(dataset), dtype=np.int64)
    for index in range(len(dataset)):
        raw, info = _raw_label(dataset, index)
        label = _label_to_int(raw, index, dataset)
        _check_range(label, index, info, num_classes, dataset)
        labels[index] = label
    return labels


def get_class_counts(dataset, num_classes: Optional[int] = None) -> np.ndarray:
    """Number of samples of each class of a dataset.

    Uses ``dataset.class_counts`` when the dataset has it (this package's
    wrappers), else counts :func:`get_labels`.

    Args:
        dataset: A labelled single-label dataset.
        num_classes (int, optional): The number of classes ``K``. Defaults to
            the length of ``dataset.metainfo['classes']``.

    Returns:
        np.ndarray: ``int64`` array of shape ``(K,)``.

    Example:
        >>> from mmpretrain.datasets import CIFAR10
        >>> counts = get_class_counts(CIFAR10('data/cifar10', split='train'))
        ... # doctest: +SKIP
        >>> counts.tolist()  # doctest: +SKIP
        [5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000]
    """
    counts = getattr(dataset, 'class_counts', None)
    if counts is not None:
        return load_class_counts(counts)
    labels = get_labels(dataset, num_classes)
    if num_classes is None:
        num_classes = get_num_classes(dataset)
    return np.bincount(labels, minlength=num_classes).astype(np.int64)


def check_class_counts(counts: np.ndarray,
                       num_classes: Optional[int] = None,
                       origin: str = 'class counts',
                       class_names: Optional[Sequence[str]] = None) -> None:
    """Check that counts fit a ``K``-class problem.

    Args:
        counts (np.ndarray): Counts as returned by :func:`load_class_counts`
            or :func:`get_class_counts`.
        num_classes (int, optional): The number of classes ``K``; the length
            is not checked when None.
        origin (str): What the counts are, for the message (a config key, a
            file, a dataset).
        class_names (Sequence[str], optional): Class names, for the message.

    Raises:
        ValueError: If there are not ``K`` entries, or a class has no
            training sample (its prior would be zero; the message names up
            to five such classes).

    Example:
        >>> check_class_counts(np.array([5, 3, 2]), 3, 'model.head')
    """
    if num_classes is not None and len(counts) != num_classes:
        raise ValueError(f'{origin}: {len(counts)} entries, but there are '
                         f'{num_classes} classes')
    empty = np.flatnonzero(np.asarray(counts) == 0)
    if len(empty) == 0:
        return
    shown = ', '.join(
        f'{c} ({class_names[c]!r})' if class_names is not None else str(c)
        for c in empty[:5])
    more = f' and {len(empty) - 5} more' if len(empty) > 5 else ''
    raise ValueError(f'{origin}: class(es) {shown}{more} have no training '
                     'sample; every class needs at least one (a zero prior)')
