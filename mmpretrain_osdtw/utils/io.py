"""Atomic artifact writes: a reader never sees a half-written file.

Every artifact of the OSDTW pipeline (statistics, ``search.json``, assembled
checkpoints, reports) goes through :func:`atomic_write`: the content is
written to a temporary file in the target folder and moved into place with
``os.replace``, which is atomic on POSIX file systems. A crash leaves either
the old file or the new one, never a truncated one.
"""
import json
import os
import os.path as osp
import tempfile
from typing import Any, Callable

import torch


def atomic_write(path: str, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` and move the result to ``path``.

    Args:
        path (str): Final path of the file.
        write (Callable[[str], None]): Writes the content to the path it is
            given.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # Keep the extension: some writers (mmengine's Config.dump) pick the
    # format from it.
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{osp.basename(path)}.',
        suffix='.tmp' + osp.splitext(path)[1],
        dir=folder)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save`` through :func:`atomic_write`."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def atomic_json_dump(obj: Any, path: str, indent: int = 2) -> None:
    """``json.dump`` through :func:`atomic_write`."""

    def write(tmp: str) -> None:
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(obj, f, indent=indent)
            f.write('\n')

    atomic_write(path, write)


def atomic_write_text(text: str, path: str) -> None:
    """Write ``text`` (UTF-8) through :func:`atomic_write`."""

    def write(tmp: str) -> None:
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text)

    atomic_write(path, write)
