"""Fixes that make MMPretrain 1.2 / mmengine 0.10 run on torch >= 2.6.

Applied once when :mod:`mmpretrain_osdtw` is imported. Nothing here edits an
installed package: every fix goes through a public extension point.
"""
import os.path as osp
import warnings

import torch
from mmengine.runner import CheckpointLoader

_APPLIED = False


def load_from_local(filename: str, map_location=None) -> dict:
    """Load a local checkpoint written by mmengine (named like mmengine's
    loaders, whose log line reads "Loads checkpoint by local backend").

    mmengine stores a ``message_hub`` (``HistoryBuffer`` and numpy objects) in
    every checkpoint, which ``torch.load(weights_only=True)`` (the default
    since torch 2.6) refuses. Checkpoints are therefore loaded with
    ``weights_only=False``: only load checkpoints from a trusted source.

    Args:
        filename (str): Path of the checkpoint file.
        map_location (str | torch.device, optional): Where to map tensors.

    Returns:
        dict: The loaded checkpoint.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file {filename!r} does not exist')
    return torch.load(filename, map_location=map_location, weights_only=False)


def _silence_stack_warnings() -> None:
    """Drop two import-time warnings that are not the user's to act on.

    mmengine's ``is_installed`` reloads ``pkg_resources`` at every call (each
    config with an ``mmpretrain::`` base), and setuptools (67.5 on) warns
    "pkg_resources is deprecated" at every load: 78 lines on stderr for the
    Digits-LT pipeline. mmcv-lite (the stack's mmcv) warns that it has no
    ``MultiScaleDeformableAttention`` op, which MMPretrain's classifiers do
    not use.
    """
    warnings.filterwarnings(
        'ignore', message='pkg_resources is deprecated', category=UserWarning)
    warnings.filterwarnings(
        'ignore',
        message='Fail to import ``MultiScaleDeformableAttention``',
        category=UserWarning)


def apply_stack_fixes() -> None:
    """Register the checkpoint loader fix and silence the stack's
    import-time warnings (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)
    _silence_stack_warnings()
    _APPLIED = True
