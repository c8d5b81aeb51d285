"""Pairing the two task statistics files (and the cross file) for the proxy.

Body tensors (layers ``1..L``) must have the same names, layers and shapes
in both task files. Group-0 tensors (final norm + head) are never shared,
so the proxy only uses each task's own decoder variance ``sum_j v_tj / (2 N
h_tj)`` for them: a group-0 tensor may exist in only one file or differ in
shape (the task heads have ``K // 2`` and ``K - K // 2`` outputs). Such a
tensor enters the proxy as a one-sided slot named ``'<name> [head only]'`` /
``'<name> [tail only]'`` with the other task's ``h = v = 0`` (counted as
``zero_one_side`` in the diagnostics); a group-0 tensor with the same name
and shape in both files is paired as usual. Where both files carry them
(``FisherHook`` writes them), the meta's model fingerprint and class counts
must agree and the tasks' class ids must split ``0..K-1`` between them.

The proxy's view of a pair: :mod:`.proxy_inputs`.

Example:
    >>> pair = TaskStatsPair.load('fisher_head.pth', 'fisher_tail.pth',
    ...                           'fisher_cross.pth')  # doctest: +SKIP
"""
from dataclasses import dataclass, replace
from typing import List, Optional, Tuple

from .cross_stats import CrossStats
from .per_sample import Grads
from .task_stats import TaskStats


def _check_meta(head: TaskStats, tail: TaskStats) -> None:
    """Model fingerprint, class counts and class split, where recorded."""
    for key, what in (('fingerprint', 'another model'),
                      ('num_classes', 'another class split'),
                      ('class_counts', 'another class split')):
        if key in head.meta and key in tail.meta and \
                head.meta[key] != tail.meta[key]:
            raise ValueError(f'{tail.where}: meta {key!r} differs from '
                             f'{head.where} (statistics of {what})')
    ids = (head.meta.get('class_ids'), tail.meta.get('class_ids'))
    num_classes = head.meta.get('num_classes')
    if None in ids or num_classes is None:
        return
    if sorted(list(ids[0]) + list(ids[1])) != list(range(num_classes)):
        raise ValueError(
            f'{head.where} and {tail.where}: the class ids of the two tasks '
            f'do not split the {num_classes} classes (statistics of another '
            'class split)')


def _check_layout(head: TaskStats, tail: TaskStats) -> None:
    """Sample counts, layers and the body tensors of both files agree."""
    if (head.train_size is None) != (tail.train_size is None):
        has, lacks = (head, tail) if head.train_size is not None else \
            (tail, head)
        raise ValueError(f'{lacks.where}: no train_size, but {has.where} '
                         'has one (mixed statistics files?)')
    for key in ('num_samples', 'train_size', 'num_layers'):
        if getattr(head, key) != getattr(tail, key):
            raise ValueError(f'{tail.where}: {key} = '
                             f'{getattr(tail, key)!r} differs from '
                             f'{head.where} ({getattr(head, key)!r})')
    for name, layer in head.param_layers.items():
        other = tail.param_layers.get(name, layer)
        if other != layer:
            raise ValueError(
                f'{tail.where}: layer map differs from {head.where} at key '
                f'{name!r} ({other} vs {layer})')
    body = [{n
             for n, layer in t.param_layers.items() if layer > 0}
            for t in (head, tail)]
    if body[0] != body[1]:
        diff = sorted(body[0] ^ body[1])[0]
        where = head.where if diff in body[0] else tail.where
        raise ValueError(f'{tail.where}: body parameter names differ from '
                         f'{head.where}; first differing key {diff!r} is '
                         f'only in {where}')
    for name in (n for n in head.param_layers if n in body[0]):
        shapes = [tuple(t.params[name].shape) for t in (head, tail)]
        if shapes[0] != shapes[1]:
            raise ValueError(
                f'{tail.where}: params[{name!r}] has shape {shapes[1]}, '
                f'{head.where} has {shapes[0]} (body tensors of both tasks '
                'must match)')


@dataclass(eq=False)
class TaskStatsPair:
    """The two task files, checked to belong together, and the cross file,
    checked to match them (see the module docs).

    Attributes:
        head (TaskStats): Task A.
        tail (TaskStats): Task B.
        cross (CrossStats, optional): The cross term ``k`` (0 without it).

    Raises:
        ValueError: When built from files that do not pair (names the file
            and the first differing key).

    Example:
        >>> pair = TaskStatsPair.load('fisher_head.pth',
        ...                           'fisher_tail.pth')  # doctest: +SKIP
    """
    head: TaskStats
    tail: TaskStats
    cross: Optional[CrossStats] = None

    def __post_init__(self) -> None:
        for stats, task in ((self.head, 'head'), (self.tail, 'tail')):
            if stats.task != task:
                raise ValueError(f'{stats.where}: task is {stats.task!r}, '
                                 f'expected {task!r}')
        _check_meta(self.head, self.tail)
        _check_layout(self.head, self.tail)
        self.cross_k()

    @classmethod
    def load(cls,
             head_path: str,
             tail_path: str,
             cross_path: Optional[str] = None) -> 'TaskStatsPair':
        """Read and pair ``fisher_head.pth``, ``fisher_tail.pth`` and
        optionally ``fisher_cross.pth``."""
        pair = cls(
            TaskStats.load(head_path, 'head'),
            TaskStats.load(tail_path, 'tail'))
        if cross_path is None:
            return pair
        return replace(pair, cross=CrossStats.load(cross_path))

    def names(self) -> Tuple[List[str], List[str]]:
        """Paired names (head file order) and tail-only group-0 names.

        A name is paired when both files have it with the same shape
        (always true for body tensors).
        """
        head, tail = self.head, self.tail
        both = [
            n for n in head.param_layers if n in tail.param_layers
            and head.params[n].shape == tail.params[n].shape
        ]
        paired = set(both)
        tail_only = [n for n in tail.param_layers if n not in paired]
        return both, tail_only

    def cross_k(self) -> Optional[Grads]:
        """``k`` of the cross file, checked (None without one)."""
        if self.cross is None:
            return None
        both, _ = self.names()
        layers = self.head.param_layers
        return self.cross.checked_k(
            [n for n in both if layers[n] > 0],
            {n: self.head.params[n].shape
             for n in both},
            self.head.num_samples,
            optional_names=[n for n in both if layers[n] == 0])
