"""What the two kinds of statistics files share: the format version,
reading a file, the ``{name: Tensor}`` entries checked against a list of
names, and :class:`StatsFile`, the base of the typed files
:class:`~.task_stats.TaskStats` (``fisher_<task>.pth``) and
:class:`~.cross_stats.CrossStats` (``fisher_cross.pth``)."""
import os.path as osp
from typing import Dict, Optional, Sequence

import torch

from mmpretrain_osdtw.utils import atomic_torch_save

FORMAT_VERSION = 1


class StatsFile:
    """A typed statistics file: checked when built, named in the messages
    by the file it was read from, saved atomically.

    Subclasses are dataclasses with a ``path`` field and define
    :meth:`validate` and :meth:`to_dict`.
    """
    #: How the messages name an object that was not read from a file.
    unsaved_name = 'statistics'
    path: Optional[str]

    def __post_init__(self) -> None:
        self.validate()

    @property
    def where(self) -> str:
        """The file (or :attr:`unsaved_name`), for the messages."""
        return self.path or self.unsaved_name

    def validate(self) -> None:
        """Raise ``ValueError``, naming :attr:`where`, on bad content."""
        raise NotImplementedError

    def to_dict(self) -> dict:
        """The file's content, ready for ``torch.save``."""
        raise NotImplementedError

    def save(self, path: str) -> None:
        """Write the file atomically."""
        atomic_torch_save(self.to_dict(), path)


def read_stats_file(path: str) -> dict:
    """``torch.load`` a statistics file (tensors and plain types only).

    Args:
        path (str): The file.

    Returns:
        dict: The file's content.

    Raises:
        FileNotFoundError: If the file is missing.
        ValueError: If it cannot be read as a dict (names the file).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'statistics file {path!r} does not exist')
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # unpickling errors have many types
        raise ValueError(f'{path}: cannot be read as a torch.save file of '
                         f'tensors and plain Python types ({err})') from err
    if not isinstance(obj, dict):
        raise ValueError(f'{path}: expected a dict, got {type(obj).__name__}')
    return obj


def check_keys(obj: dict, where: str, keys: Sequence[str]) -> None:
    """Raise ``ValueError`` (naming ``where``) unless ``obj`` has ``keys``
    and the supported ``format_version``."""
    for key in keys:
        if key not in obj:
            raise ValueError(f'{where}: missing key {key!r}')
    if obj['format_version'] != FORMAT_VERSION:
        raise ValueError(f'{where}: format_version {obj["format_version"]!r} '
                         f'is not supported (expected {FORMAT_VERSION})')


def check_tensor_dict(
        value,
        where: str,
        key: str,
        names: Sequence[str],
        optional: Sequence[str] = (),
        unknown: str = 'not in param_layers') -> Dict[str, torch.Tensor]:
    """A ``{name: Tensor}`` entry with every one of ``names`` as a key, and
    otherwise only keys of ``optional``.

    Args:
        value: The entry.
        where (str): The file, for the messages.
        key (str): The entry's key, for the messages.
        names (Sequence[str]): The names it must have.
        optional (Sequence[str]): The names it may have.
        unknown (str): Ends the message for another name.

    Returns:
        dict[str, Tensor]: ``value``.

    Raises:
        ValueError: Naming ``where``, ``key`` and the first wrong name.
    """
    if not isinstance(value, dict):
        raise ValueError(f'{where}: {key} must be a dict of tensors')
    missing = [n for n in names if n not in value]
    if missing:
        raise ValueError(f'{where}: {key} has no entry for parameter '
                         f'{missing[0]!r}')
    extra = sorted(set(value) - set(names) - set(optional))
    if extra:
        raise ValueError(f'{where}: {key} has an entry {extra[0]!r} that is '
                         f'{unknown}')
    for name, tensor in value.items():
        if not isinstance(tensor, torch.Tensor):
            raise ValueError(f'{where}: {key}[{name!r}] is not a tensor')
    return value
