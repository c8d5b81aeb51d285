"""No log folder from a run that fails on its input before it trains.

Every Runner makes ``work_dir/<timestamp>/`` (its log file, ``vis_data``)
and dumps its config to ``work_dir/<config name>.py`` when it is built, and
the OSDTW pipeline writes ``work_dir/logs/<timestamp>.log`` when it starts;
a call that then fails on a config or input error
(:class:`~mmpretrain_osdtw.utils.InputError`: a checkpoint that does not
fit or is refused, a locked work dir, a bad pipeline setting) left them
behind, one more folder per failed try. :func:`discard_logs_on_input_error`
removes what such a call made, when all it made is logs: files below a
``<timestamp>`` folder, ``<timestamp>*`` files, config dumps (``*.py``), a
step's ``started.json`` and the work dir's lock file, and the folders that
held them. A call that wrote anything else (a checkpoint, a finished step's
``done.json``) keeps everything, and so does any other error (its log may
help).

Example:
    >>> with discard_logs_on_input_error('work_dirs/run'):  # doctest: +SKIP
    ...     build_runner(cfg).train()
"""
import os
import os.path as osp
import re
import shutil
from contextlib import contextmanager, suppress
from typing import Iterator, Set

from mmengine.dist import is_main_process

from mmpretrain_osdtw.utils import InputError
from .step_ledger import STARTED_FILE
from .work_dir import LOCK_FILE

#: A run's log folder or file: ``20261207_183102``, ``..._config.py``.
TIMESTAMP = re.compile(r'^\d{8}_\d{6}')
#: Bookkeeping files that a failed call may leave with its logs.
BOOKKEEPING = (STARTED_FILE, LOCK_FILE)
#: The ending of a Runner's config dump (``work_dir/<config name>.py``).
CONFIG_DUMP = '.py'


def tree(root: str) -> Set[str]:
    """Every folder and file below ``root``, relative to it."""
    found = set()
    for folder, dirs, files in os.walk(root):
        rel = osp.relpath(folder, root)
        found.update(osp.normpath(osp.join(rel, n)) for n in dirs + files)
    return found


def is_log(rel_path: str) -> bool:
    """Whether a file is a run's log (see the module docstring)."""
    parts = rel_path.split(os.sep)
    return (parts[-1] in BOOKKEEPING or parts[-1].endswith(CONFIG_DUMP)
            or any(TIMESTAMP.match(p) for p in parts))


def remove_new_logs(root: str, before: Set[str], existed: bool) -> None:
    """Remove what appeared below ``root`` since ``before`` (and ``root``
    itself unless it ``existed``), if it is all logs."""
    new = tree(root) - before if osp.isdir(root) else set()
    files = [p for p in new if not osp.isdir(osp.join(root, p))]
    if not all(is_log(p) for p in files):
        return
    for rel in files:
        with suppress(FileNotFoundError):  # another rank's removal
            os.remove(osp.join(root, rel))
    folders = sorted(set(new) - set(files), key=len, reverse=True)
    for rel in folders:  # deepest first: each is empty by now
        shutil.rmtree(osp.join(root, rel), ignore_errors=True)
    if not existed and osp.isdir(root) and not os.listdir(root):
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def discard_logs_on_input_error(work_dir: str) -> Iterator[None]:
    """On an :class:`InputError` inside the block, remove the logs it made
    in ``work_dir`` (rank 0; see the module docstring), then re-raise."""
    existed = osp.isdir(work_dir)
    before = tree(work_dir) if existed else set()
    try:
        yield
    except InputError:
        if is_main_process():
            remove_new_logs(work_dir, before, existed)
        raise
