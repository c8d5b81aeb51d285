"""The cross-task statistics, ``fisher_cross.pth`` (optional).

Saved with ``torch.save``, loaded with ``weights_only=True``::

    dict(format_version=1,
         k={name: Tensor},             # mean_i g_A,i * g_B,i (same sample,
                                       # same augmentation, each task at its
                                       # own optimum)
         num_samples=N,
         meta=dict(...))               # optional, free-form

``k`` must cover every body tensor of the two task files; for group-0
tensors paired in both task files it is optional (unused by the proxy's
group-0 cost), and it must not name a tensor that is not paired
(:meth:`CrossStats.checked_k`). Without the file the cross term is
``k = 0``.
"""
from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence

import torch

from mmpretrain_osdtw.utils import check_int
from .model_parts import LIKELIHOOD, plain
from .per_sample import Grads
from .stats_files import (FORMAT_VERSION, StatsFile, check_keys,
                          check_tensor_dict, read_stats_file)
from .validation import check_statistics

CROSS_KEYS = ('format_version', 'k', 'num_samples')


@dataclass(eq=False)
class CrossStats(StatsFile):
    """The content of ``fisher_cross.pth``, checked (see the module docs).

    Attributes:
        k (dict[str, Tensor]): The cross-task score covariance.
        num_samples (int): ``N`` of the averages.
        meta (dict): Free-form plain-typed meta data.
        path (str, optional): The file, named by the messages (not part of
            the content).

    Example:
        >>> cross = CrossStats.load('fisher_cross.pth')  # doctest: +SKIP
    """
    k: Grads
    num_samples: int
    meta: dict = field(default_factory=dict)
    path: Optional[str] = field(default=None, repr=False)
    unsaved_name = 'cross-task statistics'

    def validate(self) -> None:
        """Raise ``ValueError`` (naming the file) unless ``k`` is a dict of
        tensors and ``num_samples`` an int >= 1."""
        check_tensor_dict(self.k, self.where, 'k', names=(), optional=self.k)
        check_int('num_samples', self.num_samples, 1, f'{self.where}: ')

    def checked_k(
        self,
        names: Sequence[str],
        shapes: Dict[str, torch.Size],
        num_samples: int,
        optional_names: Sequence[str] = ()) -> Grads:
        """``k``, checked against the two task files.

        Args:
            names (Sequence[str]): Parameter names ``k`` must cover (the
                body).
            shapes (dict): Shapes of ``names`` and ``optional_names``.
            num_samples (int): ``N`` of the task files.
            optional_names (Sequence[str]): Names ``k`` may cover (paired
                group-0 tensors). Defaults to none.

        Returns:
            dict[str, Tensor]: ``k`` (optional names may be absent).

        Raises:
            ValueError: Naming the file and the first mismatch.
        """
        if self.num_samples != num_samples:
            raise ValueError(f'{self.where}: num_samples = '
                             f'{self.num_samples!r} differs from the task '
                             f'files ({num_samples})')
        check_tensor_dict(
            self.k, self.where, 'k', names, optional_names,
            'not a parameter of both task files (with one shape)')
        for name, value in self.k.items():
            if value.shape != shapes[name]:
                raise ValueError(f'{self.where}: k[{name!r}] has shape '
                                 f'{tuple(value.shape)}, expected '
                                 f'{tuple(shapes[name])}')
        return self.k

    def to_dict(self) -> dict:
        """The file's content, ready for ``torch.save``."""
        return dict(
            format_version=FORMAT_VERSION,
            k=self.k,
            num_samples=self.num_samples,
            meta=self.meta)

    @classmethod
    def from_dict(cls, obj: dict, path: Optional[str] = None) -> 'CrossStats':
        """Check a file's content (``path`` names it in the messages)."""
        check_keys(obj, path or cls.unsaved_name, CROSS_KEYS)
        return cls(
            obj['k'], obj['num_samples'], obj.get('meta') or {}, path=path)

    @classmethod
    def load(cls, path: str) -> 'CrossStats':
        """Read and check ``path``.

        Raises:
            FileNotFoundError: If the file is missing.
            ValueError: If the content is not in the documented format.
        """
        return cls.from_dict(read_stats_file(path), path)

    @classmethod
    def from_statistics(cls,
                        stats: dict,
                        meta: Optional[dict] = None,
                        dtype: torch.dtype = torch.float32) -> 'CrossStats':
        """The file of :func:`~.statistics.cross_task_statistics`' output.

        Args:
            stats (dict): ``k``, ``num_samples`` and an optional ``meta``.
            meta (dict, optional): Extra plain-typed meta entries.
            dtype (torch.dtype): Storage dtype of ``k``.

        Raises:
            ValueError: On non-finite ``k``.
        """
        check_statistics(stats, keys=('k', ), nonzero=False)
        info = dict(likelihood=LIKELIHOOD)
        info.update(stats.get('meta', {}))
        info.update(meta or {})
        return cls(
            k={
                n: t.to('cpu', dtype)
                for n, t in stats['k'].items()
            },
            num_samples=int(stats['num_samples']),
            meta=plain(info))


def save_cross_stats(path: str, stats: dict, **kwargs) -> None:
    """Write ``fisher_cross.pth`` atomically:
    :meth:`CrossStats.from_statistics` (``kwargs`` as there), then
    :meth:`CrossStats.save`.

    Example:
        >>> save_cross_stats('fisher_cross.pth', cross)  # doctest: +SKIP
    """
    CrossStats.from_statistics(stats, **kwargs).save(path)


def load_cross_stats(
    path: str,
    names: Sequence[str],
    shapes: Dict[str, torch.Size],
    num_samples: int,
    optional_names: Sequence[str] = ()) -> Grads:
    """``k`` of ``fisher_cross.pth``, checked against the task files:
    :meth:`CrossStats.load`, then :meth:`CrossStats.checked_k`."""
    return CrossStats.load(path).checked_k(names, shapes, num_samples,
                                           optional_names)
