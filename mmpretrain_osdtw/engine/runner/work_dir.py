"""What a pipeline owns in its work dir: the lock, and the checkpoints of
each step's folder.

- :class:`WorkDirLock`: one run per work dir. ``<work_dir>/.lock`` is held
  with ``fcntl.flock`` while the pipeline runs; a second run on the same
  work dir stops at once with one line naming the holder's PID. The kernel
  drops the lock when its process ends, however it ends, so the lock of a
  killed run is no obstacle.
- :func:`step_checkpoints` / :func:`latest_checkpoint`: a step's epoch (or
  iteration) checkpoints, always resolved inside its own folder. mmengine's
  ``last_checkpoint`` file holds an absolute path, which points into the
  old folder after a work dir is moved or copied: only its file name is
  used.
"""
import fcntl
import glob
import os
import os.path as osp
import re
from typing import List, Optional

from mmpretrain_osdtw.utils import InputError

LOCK_FILE = '.lock'
LAST_CHECKPOINT = 'last_checkpoint'


def checkpoint_number(path: str) -> int:
    """The ``N`` of ``epoch_N.pth`` / ``iter_N.pth`` (-1 for other names).

    Example:
        >>> checkpoint_number('work/stage2/epoch_12.pth')
        12
    """
    match = re.search(r'_(\d+)\.pth$', osp.basename(path))
    return int(match.group(1)) if match else -1


def step_checkpoints(folder: str) -> List[str]:
    """The epoch/iteration checkpoints of a step folder, newest first: the
    one mmengine's ``last_checkpoint`` names (by file name, inside
    ``folder``) first, then the others by number."""
    found = sorted(
        glob.glob(osp.join(folder, 'epoch_*.pth')) +
        glob.glob(osp.join(folder, 'iter_*.pth')),
        key=checkpoint_number,
        reverse=True)
    last = last_checkpoint_name(folder)
    if last is not None:
        path = osp.join(folder, last)
        if path in found:
            found.remove(path)
            found.insert(0, path)
    return found


def last_checkpoint_name(folder: str) -> Optional[str]:
    """The file name in ``<folder>/last_checkpoint`` (None without one)."""
    path = osp.join(folder, LAST_CHECKPOINT)
    if not osp.isfile(path):
        return None
    with open(path, encoding='utf-8') as f:
        name = osp.basename(f.read().strip())
    return name or None


def latest_checkpoint(folder: str) -> Optional[str]:
    """The newest checkpoint of a step folder, inside it (None if none)."""
    found = step_checkpoints(folder)
    return found[0] if found else None


def remove_checkpoints(folder: str) -> List[str]:
    """Remove a step folder's epoch/iteration checkpoints and its
    ``last_checkpoint``; return the removed checkpoints."""
    removed = step_checkpoints(folder)
    for path in removed + [osp.join(folder, LAST_CHECKPOINT)]:
        if osp.isfile(path):
            os.remove(path)
    return removed


class WorkDirLock:
    """An exclusive lock on a work dir, held by one process at a time.

    Example:
        >>> with WorkDirLock('work_dirs/run'):  # doctest: +SKIP
        ...     pass  # a second process gets an InputError here

    Args:
        work_dir (str): The folder (created if missing).
    """

    def __init__(self, work_dir: str) -> None:
        self.path = osp.join(osp.abspath(work_dir), LOCK_FILE)
        self._fd: Optional[int] = None

    def acquire(self) -> None:
        """Take the lock and write this process's PID into the file.

        Raises:
            InputError: If another process holds it (naming its PID).
        """
        os.makedirs(osp.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors='replace').strip()
            os.close(fd)
            raise InputError(
                f'{osp.dirname(self.path)} is in use by another run (PID '
                f'{holder or "unknown"}, lock {self.path}); wait for it to '
                'end, or give this run another --work-dir') from None
        os.ftruncate(fd, 0)
        os.write(fd, f'{os.getpid()}\n'.encode())
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays: removing it would race)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> 'WorkDirLock':
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
