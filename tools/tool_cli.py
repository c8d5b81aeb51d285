"""What ``tools/train.py`` and ``tools/test.py`` do before importing torch.

Importing torch, mmengine, MMPretrain and the plug-in takes 5-8 s on a
loaded 2-core machine. The tools parse their command line and check the
paths it names with this module first (standard library only), so
``--help``, a misspelled config and a missing checkpoint answer in a
fraction of a second:

* :func:`missing_file` is the one line for a path that is not a file, with
  the closest existing path (:mod:`difflib`, one path component at a time)
  and, for a checkpoint, the ``.pth`` files of its folder::

      checkpoint 'work_dirs/run/epoch_6.pth' does not exist (did you mean
      'work_dirs/run/epoch_60.pth'?); work_dirs/run holds epoch_59.pth,
      epoch_60.pth

* :func:`set_default_threads` gives torch its thread count by a rule when
  ``OMP_NUM_THREADS`` is unset (a user's value always wins): one thread on
  a machine with at most :data:`FEW_CPUS` usable CPUs. On the project's
  2-core machine next to other work (load average 4-6), 10 epochs of the
  Digits-LT baseline took 89-132 s with torch's default (2 threads) and
  14-15 s with one thread, losses equal but for float rounding (2.519 and
  2.525 at epoch 10; the whole 60 epochs: 81.0 s against 10.9 s in the
  trial that reported it). An idle 2-core machine can gain at
  most 2x from a second thread (MGP pretraining measured 1.6x); a busy one
  loses 6-9x, so one thread is never the slow choice by much. Larger
  machines keep torch's default (not measured here).
* :class:`LazyDictAction` is mmengine's ``DictAction`` (``--cfg-options``),
  imported only when the option is given.
* :func:`add_trust_checkpoint` is the ``--trust-checkpoint`` flag of every
  tool that loads checkpoints (the small tools import this module too).
"""
import argparse
import difflib
import os
import os.path as osp
import re
from typing import List, Optional, Sequence

#: Machines with at most this many usable CPUs train with one thread.
FEW_CPUS = 2
#: Names of a folder listed in a message at most (the first and last ones).
LISTED = 8


# ------------------------------------------------------------- threads
def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the system
    has one, e.g. under ``taskset`` or a container's cpuset)."""
    if hasattr(os, 'sched_getaffinity'):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_threads(cpus: int) -> Optional[int]:
    """The thread count of a run without ``OMP_NUM_THREADS``.

    Args:
        cpus (int): Usable CPUs.

    Returns:
        int | None: 1 on a machine with at most :data:`FEW_CPUS` CPUs, else
        None (torch's default).

    Example:
        >>> default_threads(2), default_threads(16)
        (1, None)
    """
    return 1 if cpus <= FEW_CPUS else None


def set_default_threads(environ=os.environ,
                        cpus: Optional[int] = None) -> Optional[int]:
    """Set ``OMP_NUM_THREADS`` by :func:`default_threads` unless it is set.

    Call before torch is imported: torch (and NumPy's BLAS) read it when
    they load, exactly as if the user had set it.

    Args:
        environ (MutableMapping): The environment. Defaults to
            ``os.environ``.
        cpus (int, optional): Usable CPUs. Defaults to
            :func:`usable_cpus`.

    Returns:
        int | None: The thread count set, or None (left as it was).
    """
    if environ.get('OMP_NUM_THREADS'):
        return None
    threads = default_threads(usable_cpus() if cpus is None else cpus)
    if threads is not None:
        environ['OMP_NUM_THREADS'] = str(threads)
    return threads


# --------------------------------------------------------------- paths
def natural_key(name: str) -> list:
    """Sort key that puts ``epoch_9.pth`` before ``epoch_10.pth``."""
    return [int(p) if p.isdigit() else p for p in re.split(r'(\d+)', name)]


def closest_path(path: str, suffix: str = '') -> Optional[str]:
    """The existing file closest to ``path``: each missing component
    replaced by its folder's closest entry (a folder, or for the last one a
    file ending with ``suffix``); None if one has no close entry.

    Example:
        >>> closest_path('tools/trian.py', '.py')  # doctest: +SKIP
        'tools/train.py'
    """
    parts = list(filter(None, re.split(r'[/\\]+', path)))
    current = os.sep if path.startswith(os.sep) else ''
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        candidate = osp.join(current, part)
        if osp.isfile(candidate) if last else osp.isdir(candidate):
            current = candidate
            continue
        folder = current or os.curdir
        try:
            entries = [
                e.name for e in os.scandir(folder)
                if (e.is_file() and e.name.endswith(suffix)
                    if last else e.is_dir())
            ]
        except OSError:
            return None
        match = difflib.get_close_matches(part, entries, n=1, cutoff=0.6)
        if not match:
            return None
        current = osp.join(current, match[0])
    return current if osp.isfile(current) else None


def folder_listing(folder: str, suffix: str) -> str:
    """``'<folder> holds a.pth, b.pth'`` (natural order, at most
    :data:`LISTED` names), ``'<folder> holds no .pth file'`` or
    ``'folder <folder> does not exist'``."""
    if folder and not osp.isdir(folder):
        return f'folder {folder} does not exist'
    shown = folder or 'the current folder'
    names = sorted((e.name for e in os.scandir(folder or os.curdir)
                    if e.is_file() and e.name.endswith(suffix)),
                   key=natural_key)
    if not names:
        return f'{shown} holds no {suffix} file'
    text = ', '.join(names)
    if len(names) > LISTED:
        text = ', '.join(names[:2] + ['...'] + names[3 - LISTED:])
        text += f' ({len(names)} files)'
    return f'{shown} holds {text}'


def missing_file(path: str,
                 what: str,
                 suffix: str = '',
                 list_folder: bool = False) -> Optional[str]:
    """None if ``path`` is a file, else the one line that says so.

    Args:
        path (str): The path given on the command line.
        what (str): What it is, e.g. ``'config file'``.
        suffix (str): The ending of the files to suggest and list.
        list_folder (bool): Add what the folder holds (:func:`folder_listing`,
            of the suggestion's folder when there is one).

    Returns:
        str | None: ``"<what> '<path>' does not exist (did you mean
        '<closest>'?)[; <listing>]"``.
    """
    if osp.isfile(path):
        return None
    line = f'{what} {path!r} does not exist'
    if osp.isdir(path):
        line = f'{what} {path!r} is a folder, not a file'
    close = closest_path(path, suffix)
    if close is not None:
        line += f' (did you mean {close!r}?)'
    if list_folder:
        line += '; ' + folder_listing(osp.dirname(close or path), suffix)
    return line


def first_missing(checks: Sequence[tuple]) -> Optional[str]:
    """The line of the first of ``checks`` (:func:`missing_file`'s
    arguments each) whose path is not a file; None if all are."""
    for check in checks:
        line = missing_file(*check)
        if line is not None:
            return line
    return None


# ------------------------------------------------------------ arguments
class LazyDictAction(argparse.Action):
    """mmengine's ``DictAction`` (``key=value`` pairs into a dict, values
    parsed as Python literals), imported when the option is given."""

    def __call__(self, parser, namespace, values, option_string=None):
        from mmengine.config import DictAction
        DictAction(self.option_strings, self.dest, nargs=self.nargs)(
            parser, namespace, values, option_string)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """``--verbose``, ``--launcher``, ``--trust-checkpoint`` and
    ``--local-rank``, the same in both tools."""
    parser.add_argument(
        '--verbose',
        action='store_true',
        help="show mmengine's full log on the console (by default it shows "
        'warnings, errors and a progress line; the full log goes to the '
        'log file, whose path it prints)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    add_trust_checkpoint(parser)
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def add_trust_checkpoint(parser: argparse.ArgumentParser) -> None:
    """``--trust-checkpoint``, the one flag of every tool that loads a
    checkpoint (the tool passes it to
    :func:`mmpretrain_osdtw.utils.trust_checkpoints`)."""
    parser.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='load checkpoints that hold more than tensors and mmengine\'s '
        'own types (weights_only=False: it may run code from the file); '
        'only for files from a source you trust')


def config_name(path: str) -> str:
    """``configs/x/vit_bal-bce.py`` -> ``'vit_bal-bce'``."""
    return osp.splitext(osp.basename(path))[0]


def default_test_work_dir(config: str, checkpoint: str) -> str:
    """Where ``tools/test.py`` logs without ``--work-dir``: ``test_<config
    name>`` beside the checkpoint, or under ``work_dirs/`` when the
    checkpoint's folder is not writable (a shared, read-only one).

    Example:
        >>> default_test_work_dir('configs/a/bal-bce.py',  # doctest: +SKIP
        ...                       'work_dirs/run/epoch_9.pth')
        'work_dirs/run/test_bal-bce'
    """
    folder = osp.dirname(checkpoint)
    name = f'test_{config_name(config)}'
    if os.access(folder or os.curdir, os.W_OK):
        return osp.join(folder, name)
    return osp.join('work_dirs', name)


def parse(parser: argparse.ArgumentParser,
          argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse ``argv`` and set ``LOCAL_RANK`` (for ``--launcher pytorch``
    started by the older ``torch.distributed.launch``)."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args
