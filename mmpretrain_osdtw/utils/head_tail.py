"""The head/tail split rule of the classes into two tasks.

OSDTW trains two tasks on the same images: the *head* task over the frequent
classes and the *tail* task over the rare ones (see
:mod:`mmpretrain_osdtw.datasets.head_tail_split` for the dataset wrapper).
The rule, :func:`split_head_tail`, and the task sizes and index maps live
here, below the datasets and the heads/metrics that all apply them.
"""
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from .class_counts import load_class_counts

TASKS = ('head', 'tail', 'both')


def check_task(task: Optional[str], allow_none: bool = True) -> str:
    """Normalise a task name (``None`` means ``'both'``)."""
    if task is None and allow_none:
        return 'both'
    if task not in TASKS:
        raise ValueError(f'task must be one of {TASKS}'
                         f"{' or None' if allow_none else ''}, got {task!r}")
    return task


def split_head_tail(
        counts: Union[Sequence[int],
                      np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """Split the classes into the head and the tail task.

    Args:
        counts (Sequence[int] | np.ndarray): Training samples per class,
            length ``K`` (see :mod:`.class_counts`).

    Returns:
        tuple[np.ndarray, np.ndarray]: ``(head_ids, tail_ids)``, ``int64``
        original class ids in task order (count descending, ties by smaller
        id), of lengths ``K // 2`` and ``K - K // 2``.

    Raises:
        ValueError: If ``K < 2`` or a class has no training sample (the
            message names the class ids).

    Example:
        >>> head, tail = split_head_tail([10, 50, 50, 3, 7])
        >>> head.tolist(), tail.tolist()
        ([1, 2], [0, 4, 3])
    """
    counts = load_class_counts(counts)
    num_classes = len(counts)
    if num_classes < 2:
        raise ValueError('the head/tail split needs at least 2 classes, got '
                         f'K={num_classes}')
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        shown = ', '.join(str(c) for c in empty[:20])
        more = f' (and {len(empty) - 20} more)' if len(empty) > 20 else ''
        raise ValueError(f'{len(empty)} class(es) have no training sample: '
                         f'class id(s) {shown}{more}; every class needs at '
                         'least one to be split into head/tail.')
    order = np.argsort(-counts, kind='stable').astype(np.int64)
    num_head = num_classes // 2
    return order[:num_head], order[num_head:]


def task_num_classes(num_classes: int, task: Optional[str]) -> int:
    """Number of classes a task sees.

    Args:
        num_classes (int): The number of classes ``K``.
        task (str, optional): ``'head'``, ``'tail'``, ``'both'`` or ``None``.

    Returns:
        int: ``K // 2`` for head, ``K - K // 2`` for tail, ``K`` otherwise.

    Example:
        >>> task_num_classes(5, 'head'), task_num_classes(5, 'tail')
        (2, 3)
    """
    task = check_task(task)
    if isinstance(num_classes, bool) or not isinstance(num_classes,
                                                       (int, np.integer)):
        raise TypeError(
            f'num_classes must be an int, got {type(num_classes).__name__}')
    minimum = 1 if task == 'both' else 2
    if num_classes < minimum:
        raise ValueError(f'task {task!r} needs num_classes >= {minimum}, got '
                         f'{num_classes}')
    if task == 'head':
        return int(num_classes) // 2
    if task == 'tail':
        return int(num_classes) - int(num_classes) // 2
    return int(num_classes)


def task_index_map(class_ids: np.ndarray, num_classes: int) -> np.ndarray:
    """Map original class ids to task indices.

    Args:
        class_ids (np.ndarray): The task's original class ids in task order.
        num_classes (int): The number of classes ``K``.

    Returns:
        np.ndarray: ``int64`` array of length ``K``: the task index of each
        original class, ``-1`` for classes outside the task.
    """
    index_map = np.full(num_classes, -1, dtype=np.int64)
    index_map[np.asarray(class_ids,
                         dtype=np.int64)] = np.arange(len(class_ids))
    return index_map
