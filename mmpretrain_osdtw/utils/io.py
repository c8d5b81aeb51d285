"""Atomic artifact writes: a reader never sees a half-written file.

Every artifact of the OSDTW pipeline (statistics, ``search.json``, assembled
checkpoints, reports) goes through :func:`atomic_write`: the content is
written to a temporary file in the target folder and moved into place with
``os.replace``, which is atomic on POSIX file systems. A crash leaves either
the old file or the new one, never a truncated one.

:func:`file_digest` and :func:`check_digest` record and verify a file's size
and SHA-256 (the step ledger's integrity check); :func:`unreadable_checkpoint`
checks that a ``torch.save`` file is a complete, uncorrupted zip archive
(mmengine's own epoch checkpoints are not written atomically), and
:func:`naming_file` turns a failing load into an error naming the file;
:func:`describe_write_error` turns a failed write (a full or read-only
disk) into one line for the tools.
"""
import contextlib
import errno
import hashlib
import json
import os
import os.path as osp
import tempfile
import zipfile
from typing import Any, Callable, Dict, Iterator, Optional

import torch

from .errors import InputError


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


#: Bytes read at a time by :func:`file_digest`.
HASH_CHUNK = 1 << 20


def file_digest(path: str) -> Dict[str, object]:
    """``{'size': bytes, 'sha256': hex}`` of a file, read in 1 MiB chunks.

    Args:
        path (str): The file.

    Returns:
        dict: Its size and SHA-256.
    """
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(HASH_CHUNK), b''):
            digest.update(chunk)
    return dict(size=osp.getsize(path), sha256=digest.hexdigest())


def check_digest(path: str, expected: Dict[str, object]) -> Optional[str]:
    """Why ``path`` no longer matches its recorded :func:`file_digest`.

    Args:
        path (str): The file.
        expected (dict): Its recorded ``size`` and ``sha256``.

    Returns:
        str | None: ``'missing'``, ``'truncated (...)'``,
        ``'changed (...)'``, or None when it matches.
    """
    if not osp.isfile(path):
        return 'missing'
    size = osp.getsize(path)
    if size != expected.get('size'):
        kind = 'truncated' if size < expected.get('size', 0) else 'changed'
        return f'{kind} ({size} bytes, {expected.get("size")} recorded)'
    if file_digest(path)['sha256'] != expected.get('sha256'):
        return 'changed (its SHA-256 differs from the recorded one)'
    return None


def unreadable_checkpoint(path: str) -> Optional[str]:
    """Why ``torch.save`` file ``path`` cannot be loaded, or None.

    A ``torch.save`` file is a zip archive: a truncated one has no central
    directory, a corrupted one fails a member's CRC. Reads the whole file
    once (no unpickling).

    Args:
        path (str): The checkpoint.

    Returns:
        str | None: The reason, or None when the archive is whole.
    """
    if not osp.isfile(path):
        return 'missing'
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        return f'not a complete torch.save file ({err})'
    if bad is not None:
        return f'corrupted (member {bad!r} fails its CRC check)'
    return None


@contextlib.contextmanager
def naming_file(path: str, what: str = 'checkpoint') -> Iterator[None]:
    """Re-raise any error of the ``with`` block as a ValueError that names
    ``path`` (a missing file stays a FileNotFoundError naming it, an
    :class:`InputError` stays as it is).

    Args:
        path (str): The file being read.
        what (str): What it should be, for the message.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path!r} does not exist')
    try:
        yield
    except InputError:
        raise  # already one line naming the file (a refused checkpoint)
    except Exception as err:  # unpickling/zip errors have no common base
        raise ValueError(f'{path}: cannot be loaded as a {what} '
                         f'({type(err).__name__}: {err})') from err


#: Write errors a user can act on, by errno, and what each means.
WRITE_ERRNOS = {
    errno.ENOSPC: 'no space left on the device',
    errno.EDQUOT: 'the disk quota is exceeded',
    errno.EROFS: 'the file system is read-only',
    errno.EACCES: 'permission denied',
    errno.EPERM: 'operation not permitted',
}
#: What torch's zip writer says when a write fails (a full disk).
TORCH_WRITE_FAILED = ('PytorchStreamWriter failed', 'file write failed',
                      'unexpected pos')


def describe_write_error(err: BaseException) -> Optional[str]:
    """One line for an error writing to the work dir (a full or read-only
    disk, no permission), or None for any other error.

    Looks through the exception's chain (``__cause__`` / ``__context__``):
    mmengine and torch re-raise the ``OSError`` of a failed write as other
    errors.

    Example:
        >>> describe_write_error(OSError(errno.ENOSPC, 'No space', 'a.pth'))
        "cannot write 'a.pth': no space left on the device; finished steps \
and checkpoints are kept: fix it, then rerun the same command to resume"
    """
    hint = ('finished steps and checkpoints are kept: fix it, then rerun '
            'the same command to resume')
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in WRITE_ERRNOS:
            where = err.filename or 'a file'
            return (f'cannot write {where!r}: {WRITE_ERRNOS[err.errno]}; '
                    f'{hint}')
        if isinstance(err, RuntimeError) and any(
                text in str(err) for text in TORCH_WRITE_FAILED):
            return ('writing a checkpoint failed (is the disk full?): '
                    f'{str(err).splitlines()[0]}; {hint}')
        err = err.__cause__ or err.__context__
    return None
