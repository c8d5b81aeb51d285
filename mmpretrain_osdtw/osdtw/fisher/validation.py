"""Checks of computed statistics before they are written."""
from typing import Dict, Sequence

import torch

from .per_sample import Grads


def check_statistics(stats: Dict[str, Grads],
                     keys: Sequence[str] = ('v', 'h'),
                     nonzero: bool = True) -> None:
    """Raise on non-finite statistics or an all-zero Fisher.

    Args:
        stats (dict): ``{key: {name: Tensor}}`` (e.g. the output of
            :func:`~.statistics.fisher_statistics`).
        keys (Sequence[str]): The entries to check. Defaults to
            ``('v', 'h')``.
        nonzero (bool): Also require each entry to be nonzero somewhere.

    Raises:
        ValueError: Naming the entry and the parameter.

    Example:
        >>> check_statistics(dict(v={'w': torch.ones(2)},
        ...                       h={'w': torch.ones(2)}))
    """
    for key in keys:
        tensors = stats[key]
        for name, value in tensors.items():
            if not torch.isfinite(value).all():
                bad = int((~torch.isfinite(value)).sum())
                raise ValueError(f'{key}[{name!r}] has {bad} non-finite '
                                 'entries (NaN/inf weights or inputs?)')
        if nonzero and not any(bool((t != 0).any()) for t in tensors.values()):
            raise ValueError(f'{key} is zero for every parameter '
                             f'({len(tensors)} tensors): the Fisher pass saw '
                             'no gradient signal')
