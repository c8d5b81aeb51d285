"""The stage-1 statistics as the proxy reads them: :class:`ProxyInputs`,
one :class:`~..proxy.TaskPairStats` per parameter tensor of a checked
:class:`~.pairing.TaskStatsPair`, and :func:`load_stats`, which reads the
files into it.
"""
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional

import torch

from ..proxy import TaskPairStats
from .pairing import TaskStatsPair
from .task_stats import TaskStats


@dataclass
class ProxyInputs:
    """Loaded, cross-checked stage-1 statistics, ready for the proxy.

    Attributes:
        stats (list[TaskPairStats]): One entry per parameter tensor, with
            ``h``, ``v``, ``k`` (``None`` without a cross file), ``delta``
            and ``sgd_noise`` (summed over both tasks, or ``None``); a
            group-0 tensor of one task only (or of different shapes) is a
            one-sided entry ``'<name> [head only]'`` / ``'<name> [tail
            only]'`` with zeros for the other task and ``delta2 = 0``.
        num_layers (int): ``L``.
        num_samples (int): The proxy's ``N``: the task files'
            ``train_size`` if they carry it, else their ``num_samples``.
        meta (dict): ``{'head': meta, 'tail': meta}`` of the task files.
        paths (dict): The files read, ``head``/``tail``/``cross``.
    """
    stats: List[TaskPairStats]
    num_layers: int
    num_samples: int
    meta: Dict[str, dict] = field(default_factory=dict)
    paths: Dict[str, Optional[str]] = field(default_factory=dict)

    def for_variant(self, variant: str) -> List[TaskPairStats]:
        """The statistics for ``variant``.

        ``'paper'`` substitutes the empirical Fisher for the Fisher
        (``h := v``) and drops ``v`` and ``k``; ``'full'`` returns
        :attr:`stats` unchanged.
        """
        if variant != 'paper':
            return self.stats
        return [
            replace(s, h_a=s.v_a, h_b=s.v_b, v_a=None, v_b=None, k=None)
            for s in self.stats
        ]

    @classmethod
    def from_pair(cls, pair: TaskStatsPair) -> 'ProxyInputs':
        """Per-tensor statistics in ``param_layers`` order of the head
        file, then the tail file's group-0 tensors that are not paired
        (one-sided entries)."""
        head, tail = pair.head, pair.tail
        both, tail_only = pair.names()
        cross = pair.cross_k() or {}
        paired = {}
        for name in both:
            noise = [
                t.sgd_noise[name] for t in (head, tail)
                if t.sgd_noise is not None
            ]
            paired[name] = TaskPairStats(
                name=name,
                layer=head.param_layers[name],
                h_a=head.h[name],
                h_b=tail.h[name],
                v_a=head.v[name],
                v_b=tail.v[name],
                k=cross.get(name),
                delta=_delta(head.params[name], tail.params[name]),
                sgd_noise=sum(noise[1:], noise[0]) if noise else None)
        stats = [
            paired[n] if n in paired else _one_sided(head, n)
            for n in head.param_layers
        ] + [_one_sided(tail, n) for n in tail_only]
        return cls(
            stats=stats,
            num_layers=head.num_layers,
            num_samples=head.proxy_num_samples,
            meta=dict(head=head.meta, tail=tail.meta),
            paths=dict(
                head=head.path,
                tail=tail.path,
                cross=None if pair.cross is None else pair.cross.path))


def _one_sided(stats: TaskStats, name: str) -> TaskPairStats:
    """A group-0 tensor of one task only: the other side has ``h = v = 0``.

    The proxy then charges only this task's decoder variance
    ``v / (2 N h)`` for it (group 0 is never shared).
    """
    h, v = stats.h[name], stats.v[name]
    zeros = torch.zeros_like(h)
    own, other = dict(h=h, v=v), dict(h=zeros, v=zeros)
    side_a, side_b = (own, other) if stats.task == 'head' else (other, own)
    return TaskPairStats(
        name=f'{name} [{stats.task} only]',
        layer=0,
        h_a=side_a['h'],
        h_b=side_b['h'],
        v_a=side_a['v'],
        v_b=side_b['v'],
        delta2=zeros)


def _delta(theta_a: torch.Tensor, theta_b: torch.Tensor) -> torch.Tensor:
    """``theta_A - theta_B`` subtracted in float64, stored as float32."""
    return (theta_a.double() - theta_b.double()).float()


def load_stats(head_path: str,
               tail_path: str,
               cross_path: Optional[str] = None) -> ProxyInputs:
    """Load the stage-1 statistics of both tasks (and the cross term).

    Args:
        head_path (str): ``fisher_head.pth`` (task A).
        tail_path (str): ``fisher_tail.pth`` (task B).
        cross_path (str, optional): ``fisher_cross.pth``; without it
            ``k = 0``.

    Returns:
        ProxyInputs: :meth:`ProxyInputs.from_pair` of the files'
        :class:`~.pairing.TaskStatsPair`.

    Raises:
        FileNotFoundError: If a file is missing.
        ValueError: If a file is malformed or the files disagree (names the
            file and the first differing key).

    Example:
        >>> inputs = load_stats('fisher_head.pth', 'fisher_tail.pth',
        ...                     'fisher_cross.pth')  # doctest: +SKIP
        >>> grid = proxy_grid(inputs.stats, inputs.num_layers,
        ...                   inputs.num_samples)  # doctest: +SKIP
    """
    return ProxyInputs.from_pair(
        TaskStatsPair.load(head_path, tail_path, cross_path))
