"""``<path> <label>`` annotation lists: one line's parse, and where a list
file's first malformed line is.

MMPretrain's ``CustomDataset(ann_file=...)`` fails on a bad line with
Python's own message (``invalid literal for int() with base 10: 'four'``,
``not enough values to unpack``), which names neither the file nor the
line. :func:`malformed_list_line` finds that line again, by the same rule,
for the pre-flight's message; ``ImageNetLT`` and ``PlacesLT`` parse their
lists with :func:`parse_list_line` and raise :func:`list_line_error`
themselves.
"""
import os.path as osp
from typing import Iterator, Optional, Tuple

from mmpretrain.datasets import CustomDataset
from mmpretrain.registry import DATASETS

#: What a list line should look like, for the messages.
EXPECTED = "expected '<path> <label>'"


def parse_list_line(line: str, sep: Optional[str] = ' ') -> Tuple[str, int]:
    """The path and label of a ``<path> <label>`` line.

    Args:
        line (str): The line (surrounding whitespace is ignored).
        sep (str, optional): What separates the label: ``' '`` as in
            MMPretrain's ``CustomDataset`` (its rule, ``rsplit(' ', 1)``),
            None for any whitespace.

    Returns:
        tuple[str, int]: The path and the label.

    Raises:
        ValueError: Why the line is malformed (names the label).

    Example:
        >>> parse_list_line('imgs/a.png 3')
        ('imgs/a.png', 3)
    """
    if not line.strip():
        raise ValueError(f'an empty line ({EXPECTED})')
    parts = line.strip().rsplit(sep, 1)
    if len(parts) != 2:
        raise ValueError(f'no label ({EXPECTED})')
    try:
        return parts[0], int(parts[1])
    except ValueError:
        raise ValueError(f'the label {parts[1]!r} is not a whole '
                         'number') from None


def list_line_error(ann_file: str, lineno: int, line: str, reason: str) -> str:
    """``'<file> line <n>: '<line>': <reason>'`` (one line).

    Args:
        ann_file (str): The list file.
        lineno (int): The 1-based line number.
        line (str): The line, quoted without its line break.
        reason (str): What is wrong with it.

    Returns:
        str: The message.
    """
    text = line.rstrip('\r\n')
    return f'{ann_file} line {lineno}: {text!r}: {reason}'


def first_malformed_line(ann_file: str) -> Optional[str]:
    """The :func:`list_line_error` message of the first line of
    ``ann_file`` that ``CustomDataset`` cannot parse, or None.

    Args:
        ann_file (str): A list file in MMPretrain's format.

    Returns:
        str | None: The message, or None when every line parses (or the
        file cannot be read: the dataset's own error says why).
    """
    try:
        with open(ann_file, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                try:
                    parse_list_line(line)
                except ValueError as err:
                    return list_line_error(ann_file, lineno, line, str(err))
    except (OSError, UnicodeDecodeError):
        return None
    return None


def malformed_list_line(dataset_cfg: dict) -> Optional[str]:
    """Where a dataset config's list files first break ``CustomDataset``'s
    parse: the list files of every dataset in it (wrappers included) whose
    class reads its ``ann_file`` with ``CustomDataset.load_data_list``.

    Args:
        dataset_cfg (dict): A dataset config (types looked up in
            MMPretrain's ``DATASETS``).

    Returns:
        str | None: The :func:`list_line_error` message of the first
        malformed line, or None.
    """
    for ann_file in _custom_list_files(dataset_cfg):
        found = first_malformed_line(ann_file)
        if found is not None:
            return found
    return None


def _custom_list_files(node) -> Iterator[str]:
    """The ``ann_file`` paths (joined to ``data_root`` as mmengine does) of
    the ``CustomDataset``-parsed datasets in a config value."""
    if isinstance(node, (list, tuple)):
        for child in node:
            yield from _custom_list_files(child)
        return
    if not isinstance(node, dict):
        return
    ann_file = node.get('ann_file')
    if ann_file and isinstance(ann_file, str) and node.get(
            'with_label', True) and _parses_like_custom_dataset(
                node.get('type')):
        data_root = node.get('data_root') or ''
        yield ann_file if osp.isabs(ann_file) or not data_root else \
            osp.join(data_root, ann_file)
    for child in node.values():
        yield from _custom_list_files(child)


def _parses_like_custom_dataset(dataset_type) -> bool:
    """Whether a dataset type reads its list with ``CustomDataset``'s
    ``load_data_list``."""
    cls = DATASETS.get(dataset_type) if isinstance(dataset_type,
                                                   str) else dataset_type
    return isinstance(cls, type) and issubclass(cls, CustomDataset) and \
        cls.load_data_list is CustomDataset.load_data_list
