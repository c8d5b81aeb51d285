"""Fixes that make MMPretrain 1.2 / mmengine 0.10 run on torch >= 2.6.

Applied once when :mod:`mmpretrain_osdtw` is imported. Nothing here edits an
installed package: every fix goes through a public extension point.
"""
import os.path as osp

import torch
from mmengine.runner import CheckpointLoader

_APPLIED = False


def _load_local_checkpoint(filename: str, map_location=None) -> dict:
    """Load a local checkpoint written by mmengine.

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


def apply_stack_fixes() -> None:
    """Register the checkpoint loader fix (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    CheckpointLoader.register_scheme(
        prefixes='', loader=_load_local_checkpoint, force=True)
    _APPLIED = True
