"""Per-class training sample counts read from a config value.

A *class counts* array is a 1-D ``int64`` numpy array of length ``K`` (the
number of classes, in the original class order) holding the number of
training samples of each class (see
:mod:`mmpretrain_osdtw.datasets.class_counts`, which counts them from a
dataset). :func:`load_class_counts` reads one from a list of ints or the path
of a JSON file holding such a list. It lives here, below the datasets and the
models, because both read counts from configs.
"""
import json
import os
import os.path as osp
from numbers import Integral, Real
from typing import Sequence, Union

import numpy as np
import torch

CountsSource = Union[str, os.PathLike, Sequence[int], np.ndarray]


def _read_json_list(path: str) -> list:
    """Read a JSON file that must hold a list."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'class counts file {path!r} does not exist')
    with open(path, encoding='utf-8') as f:
        try:
            value = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(
                f'class counts file {path!r} is not valid JSON: {err}'
            ) from err
    if not isinstance(value, list):
        raise ValueError(
            f'class counts file {path!r} must hold a JSON list of '
            f'ints, got a {type(value).__name__}')
    return value


def _to_count(value, position: int, origin: str) -> int:
    """Validate one count: a non-negative integer (``5.0`` is accepted)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        ok = False
    else:
        ok = isinstance(value, Integral) or float(value).is_integer()
    if not ok or value < 0:
        raise ValueError(f'{origin}: entry {position} (class {position}) is '
                         f'{value!r}, not a non-negative integer count')
    return int(value)


def load_class_counts(source: CountsSource) -> np.ndarray:
    """Class counts from a config value.

    Args:
        source (str | PathLike | Sequence[int] | np.ndarray): A list, tuple
            or 1-D array of non-negative ints, or the path of a JSON file
            holding such a list (e.g. ``ImageNet_LT_train_class_counts.json``).

    Returns:
        np.ndarray: ``int64`` array of shape ``(K,)``.

    Raises:
        FileNotFoundError: If the path does not exist.
        ValueError: On an empty list, a non-integer or a negative entry (the
            message names the entry and the file).
        TypeError: On an unsupported source type.

    Example:
        >>> load_class_counts([500, 300, 20]).tolist()
        [500, 300, 20]
    """
    if isinstance(source, (str, os.PathLike)):
        origin = f'class counts file {os.fspath(source)!r}'
        values = _read_json_list(os.fspath(source))
    elif isinstance(source, (list, tuple, np.ndarray, torch.Tensor)):
        origin = 'class counts'
        array = np.asarray(
            source.cpu() if isinstance(source, torch.Tensor) else source,
            dtype=object)
        if array.ndim != 1:
            raise ValueError(f'class counts must be 1-D, got shape '
                             f'{tuple(array.shape)}')
        values = list(array)
    else:
        raise TypeError('class counts must be a list of ints or a JSON file '
                        f'path, got {type(source).__name__}')
    if len(values) == 0:
        raise ValueError(f'{origin}: the list is empty')
    counts = [_to_count(v, i, origin) for i, v in enumerate(values)]
    return np.asarray(counts, dtype=np.int64)
