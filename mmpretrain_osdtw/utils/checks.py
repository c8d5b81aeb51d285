"""Argument checks shared by the plug-in's modules."""
import difflib
import os.path as osp
from typing import Sequence

from .errors import InputError


def check_int(name: str, value, low: int, where: str = '') -> int:
    """Return ``value`` if it is an int (not a bool) ``>= low``.

    Args:
        name (str): The argument's name, for the message.
        value: The value to check.
        low (int): The smallest allowed value.
        where (str): Prefix of the message naming the owner (a class, a
            file), e.g. ``'FisherHook: '``. Defaults to none.

    Returns:
        int: ``value``.

    Raises:
        ValueError: ``'<where><name> must be an int >= <low>, got <value>'``.

    Example:
        >>> check_int('chunk_size', 4, 1)
        4
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f'{where}{name} must be an int >= {low}, got '
                         f'{value!r}')
    return value


def check_checkpoint_path(key: str, path, hint: str) -> None:
    """Raise :class:`InputError` if a checkpoint setting is empty or names a
    local file that does not exist; URLs (``scheme://``) are left to
    mmengine, which fetches them.

    Args:
        key (str): The config key, for the message.
        path: Its value.
        hint (str): How to give the checkpoint, for the empty case.

    Example:
        >>> check_checkpoint_path('load_from', 'https://x.org/a.pth', '')
    """
    if not path:
        raise InputError(f'{key} is empty: {hint}')
    if not isinstance(path, str):
        raise InputError(f'{key} must be a path or URL, got {path!r}')
    if '://' not in path and not osp.isfile(osp.expanduser(path)):
        raise InputError(f'{key}: checkpoint {path!r} does not exist')


def did_you_mean(key: str, known: Sequence[str]) -> str:
    """The end of a one-line error for an unknown ``key``: the closest of
    ``known`` when one is close, else the list of ``known``.

    Example:
        >>> did_you_mean('shard_depth', ['shared_depth', 'head_weight'])
        " (did you mean 'shared_depth'?)"
        >>> did_you_mean('zzz', ['a', 'b'])
        '; known: a, b'
    """
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else \
        f'; known: {", ".join(known)}'
