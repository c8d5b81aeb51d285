"""Random states saved with every checkpoint, restored on resume.

mmengine's resume restores the model, the optimizer, the schedulers and the
sampler's epoch (``DefaultSampler`` reseeds at every epoch), but it seeds
the global generators afresh, so the augmentations and dropout of the epochs
after a resume differ from those of an uninterrupted run. This hook stores
the Python, NumPy and torch (CPU and CUDA) generator states in each
checkpoint and puts them back when training resumes from it, at the start
of the resumed epoch (resumed from the last epoch's checkpoint: before the
hooks that run after training). A validation pass between epochs gets its
own copy of the generators, so whether it ran (it does not run again on
resume) leaves the training randomness alone.

Added to every config through ``default_hooks.rng_state`` in
``configs/_base_/lt_runtime.py``.
"""
import random
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

#: The checkpoint key of the states.
RNG_KEY = 'rng_states'


def get_rng_states() -> dict:
    """The Python, NumPy and torch generator states."""
    states = dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    """Restore states returned by :func:`get_rng_states`."""
    random.setstate(states['python'])
    np.random.set_state(states['numpy'])
    torch.set_rng_state(states['torch'])
    if 'cuda' in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states['cuda'])


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save the generator states with each checkpoint; restore them when
    the run resumes from it (see the module docstring)."""

    priority = 'HIGHEST'

    def __init__(self) -> None:
        self._loaded: Optional[dict] = None
        self._loaded_epoch: Optional[int] = None
        self._before_val: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[RNG_KEY] = get_rng_states()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Keep them until the resumed epoch starts: a ``load_from`` of the
        # same file (fine-tuning, not a resume) starts at another epoch.
        self._loaded = checkpoint.get(RNG_KEY)
        self._loaded_epoch = checkpoint.get('meta', {}).get('epoch')

    def before_train_epoch(self, runner) -> None:
        if self._loaded is not None and runner.epoch == self._loaded_epoch:
            set_rng_states(self._loaded)
        self._loaded = None

    def after_train(self, runner) -> None:
        # Resumed from the last epoch's checkpoint: no epoch ran, but what
        # runs after training (FisherHook) gets the states it had then.
        self.before_train_epoch(runner)

    def before_val(self, runner) -> None:
        self._before_val = get_rng_states()

    def after_val(self, runner) -> None:
        if self._before_val is not None:
            set_rng_states(self._before_val)
            self._before_val = None
