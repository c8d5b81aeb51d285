"""Loading checkpoints without running code from them.

``torch.load(weights_only=False)`` unpickles whatever a file holds: a
checkpoint whose pickle names ``builtins.open`` (or ``os.system``) calls it
while it loads. Every checkpoint of the plug-in and its tools is therefore
loaded by :func:`load_checkpoint_file`, with ``weights_only=True`` and an
allow-list of what an mmengine checkpoint of this project holds besides
tensors (found with ``torch.serialization.get_unsafe_globals_in_checkpoint``
on checkpoints of the Digits-LT baselines, a MORE model, the
``TaskPairClassifier`` pair, an MGP (MAE) model and every step of the OSDTW
pipeline):

* mmengine's ``HistoryBuffer`` (the message hub's logged scalars), with
  ``builtins.getattr`` replaced by a function that only returns its four
  statistics methods (``min``, ``max``, ``current``, ``mean``: a buffer
  pickles them as ``getattr(HistoryBuffer, 'mean')``); a general
  ``getattr`` would reach any attribute of an allowed object, such as
  ``ndarray.tofile``;
* NumPy's ndarray reconstruction (``_reconstruct``, ``ndarray``),
  ``dtype`` and the dtype classes of its numeric, string and object types,
  and its scalars (``scalar``), under NumPy 2's ``numpy._core`` names and
  NumPy 1's ``numpy.core`` ones: the buffers' histories and NumPy's
  generator state (:class:`~mmpretrain_osdtw.engine.hooks.RNGStateHook`).

A checkpoint that needs anything else is refused with an
:class:`UntrustedCheckpointError` naming the file and the refused global,
unless :func:`trust_checkpoints` was called (a tool's ``--trust-checkpoint``
flag): then it is loaded with ``weights_only=False`` after a warning naming
the file. :func:`load_from_local` and :func:`load_from_http` are the
loaders :mod:`mmpretrain_osdtw.compat` registers with mmengine's
``CheckpointLoader`` (every ``load_checkpoint``, ``init_cfg`` Pretrained,
``load_from`` and resume); URLs are downloaded with ``torch.hub`` into its
cache and loaded the same way.
"""
import os
import os.path as osp
import pickle
import re
import warnings
from typing import Callable, List, Optional, Tuple, Union
from urllib.parse import urlparse

import numpy as np
import torch
from mmengine.dist import get_dist_info
from mmengine.logging import HistoryBuffer

from .errors import InputError

#: The statistics methods a pickled ``HistoryBuffer`` refers to.
HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')
#: NumPy dtype codes whose dtype classes are allowed (bool, integers,
#: floats, complex, object, bytes, str).
NUMPY_DTYPE_CODES = '?bhilqBHILQefdgFDGOSU'

#: A weights-only refusal naming a global (torch's, or
#: :func:`_history_buffer_method`'s).
_REFUSAL = re.compile(
    r"GLOBAL (\S+) (?:was not|whose module)|refused global '([^']+)'")

_trusted = False


class UntrustedCheckpointError(InputError):
    """A checkpoint holds more than tensors and the allow-list: loading it
    would call what it names."""


def trust_checkpoints(enabled: bool = True) -> None:
    """Load checkpoints that need more than the allow-list (process-wide).

    Called by a tool's ``--trust-checkpoint`` flag. Such a checkpoint is
    then loaded with ``weights_only=False`` after a warning naming it;
    checkpoints within the allow-list load as before, without a warning.

    Args:
        enabled (bool): Trust (True) or refuse (False, the default state)
            such checkpoints.
    """
    global _trusted
    _trusted = bool(enabled)


def checkpoints_trusted() -> bool:
    """Whether :func:`trust_checkpoints` is on."""
    return _trusted


def _history_buffer_method(owner: object, name: str) -> Callable:
    """``getattr`` for the pickle of a ``HistoryBuffer``: its statistics
    methods only."""
    if owner is HistoryBuffer and name in HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f"refused global 'builtins.getattr' (of {name!r})")


def _numpy_globals() -> List[Tuple[Callable, str]]:
    """NumPy's array, dtype and scalar globals under the names NumPy 2
    (``numpy._core``) and NumPy 1 (``numpy.core``) pickle them with."""
    core = np._core if hasattr(np, '_core') else np.core
    out = [(np.ndarray, 'numpy.ndarray'), (np.dtype, 'numpy.dtype')]
    for module in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        out += [(core.multiarray._reconstruct, f'{module}._reconstruct'),
                (core.multiarray.scalar, f'{module}.scalar')]
    for code in NUMPY_DTYPE_CODES:
        cls = type(np.dtype(code))
        out.append((cls, f'{cls.__module__}.{cls.__qualname__}'))
    return out


def safe_checkpoint_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """The allow-list of :func:`load_checkpoint_file` (see the module
    docstring), in the form of ``torch.serialization.safe_globals``."""
    return [HistoryBuffer,
            (_history_buffer_method, 'builtins.getattr')] + _numpy_globals()


def _allow_checkpoint_globals() -> torch.serialization.safe_globals:
    """A context allowing :func:`safe_checkpoint_globals` in
    ``torch.load``; what the caller had allowed before stays allowed."""
    present = set(torch.serialization.get_safe_globals())
    return torch.serialization.safe_globals(
        [g for g in safe_checkpoint_globals() if g not in present])


def _refused_global(path: str, err: Exception) -> Optional[str]:
    """The first global of ``path`` that the allow-list refuses, quoted,
    or None when ``err`` is no refusal (a file that is not a checkpoint).
    """
    try:
        with _allow_checkpoint_globals():
            names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # not a zip archive: the refusal's text tells
        names = []
    if names:
        more = f' (and {len(names) - 1} more)' if len(names) > 1 else ''
        return f'{names[0]!r}{more}'
    match = _REFUSAL.search(str(err))
    return repr(match.group(1) or match.group(2)) if match else None


def _reason(err: Exception) -> str:
    """The unpickler's own reason in torch's many-line weights-only
    message."""
    text = str(err).split('WeightsUnpickler error:')[-1]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0] if lines else type(err).__name__


def load_checkpoint_file(path: str, map_location=None) -> object:
    """``torch.load`` a checkpoint file without running code from it.

    Loads with ``weights_only=True`` and :func:`safe_checkpoint_globals`
    allowed. A file that needs more is refused, or, under
    :func:`trust_checkpoints`, loaded with ``weights_only=False`` after a
    warning naming it.

    Args:
        path (str): The checkpoint file (``~`` is expanded).
        map_location (str | torch.device | Callable, optional): Where to
            map the tensors, as in ``torch.load``.

    Returns:
        object: The loaded checkpoint (a dict for mmengine's).

    Raises:
        FileNotFoundError: If ``path`` is not a file.
        UntrustedCheckpointError: One line naming the file and the refused
            global, when the checkpoints are not trusted.
        pickle.UnpicklingError: If it is not a checkpoint (one line).

    Example:
        >>> torch.save(dict(state_dict={}), '/tmp/ok.pth')
        >>> load_checkpoint_file('/tmp/ok.pth')
        {'state_dict': {}}
    """
    path = osp.expanduser(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint file {path!r} does not exist')
    try:
        with _allow_checkpoint_globals():
            return torch.load(
                path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        refused = _refused_global(path, err)
        if refused is None:  # not a checkpoint: torch's reason, one line
            raise pickle.UnpicklingError(
                f'weights-only unpickling failed: {_reason(err)}') from None
    if not _trusted:
        raise UntrustedCheckpointError(
            f'checkpoint {path!r} holds {refused}, which loading would run; '
            'load it only if you trust it: --trust-checkpoint')
    warnings.warn(
        f'checkpoint {path!r} holds {refused}: loading it with '
        'weights_only=False (--trust-checkpoint)',
        stacklevel=2)
    return torch.load(path, map_location=map_location, weights_only=False)


def load_from_local(filename: str, map_location=None) -> object:
    """mmengine's local-file checkpoint loader, through
    :func:`load_checkpoint_file` (named like mmengine's loaders, whose log
    line reads "Loads checkpoint by local backend").

    Args:
        filename (str): Path of the checkpoint file.
        map_location (str | torch.device, optional): Where to map tensors.

    Returns:
        object: The loaded checkpoint.
    """
    return load_checkpoint_file(filename, map_location)


def download_checkpoint(url: str,
                        model_dir: Optional[str] = None,
                        progress: bool = False) -> str:
    """Download ``url`` into ``torch.hub``'s cache (once), as
    ``torch.hub.load_state_dict_from_url`` does.

    Args:
        url (str): The checkpoint's URL.
        model_dir (str, optional): The cache folder. Defaults to
            ``<torch.hub.get_dir()>/checkpoints``.
        progress (bool): Show a progress bar.

    Returns:
        str: The local file.
    """
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    path = osp.join(model_dir, osp.basename(urlparse(url).path))
    if not osp.isfile(path):
        torch.hub.download_url_to_file(url, path, progress=progress)
    return path


def load_from_http(
    url: str,
    map_location=None,
    model_dir: Optional[str] = None,
    progress: bool = os.isatty(0)) -> object:
    """mmengine's ``http://``/``https://`` checkpoint loader: download with
    ``torch.hub`` (rank 0 first, the other ranks after a barrier, from the
    cache), then :func:`load_checkpoint_file`.

    Args:
        url (str): The checkpoint's URL.
        map_location (str | torch.device, optional): Where to map tensors.
        model_dir (str, optional): The download folder (``torch.hub``'s
            cache by default).
        progress (bool): Show a progress bar.

    Returns:
        object: The loaded checkpoint.
    """
    rank, world_size = get_dist_info()
    if rank == 0:
        path = download_checkpoint(url, model_dir, progress)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            path = download_checkpoint(url, model_dir, progress)
    return load_checkpoint_file(path, map_location)


def load_state_dict_file(path: str) -> dict:
    """The ``state_dict`` of an mmengine checkpoint file, loaded on the CPU
    by :func:`load_checkpoint_file` (no code run from it).

    Args:
        path (str): The checkpoint file.

    Returns:
        dict: Its ``state_dict``.

    Raises:
        FileNotFoundError: If ``path`` is not a file.
        UntrustedCheckpointError: If it holds more than weights.
        ValueError: If torch cannot read it (names the file).
        KeyError: If it has no ``state_dict`` (names the file).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path!r} does not exist')
    try:
        ckpt = load_checkpoint_file(path, map_location='cpu')
    except InputError:
        raise  # refused: it names the file and what it holds
    except Exception as err:  # unpickling errors have no common base
        raise ValueError(f'{path}: not a checkpoint torch can read '
                         f'({type(err).__name__}: {err})') from None
    if not isinstance(ckpt, dict) or 'state_dict' not in ckpt:
        raise KeyError(f'{path}: no state_dict (not an mmengine checkpoint)')
    return ckpt['state_dict']
