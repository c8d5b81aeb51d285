"""RNGStateHook: the random states saved with a checkpoint come back when
training resumes from it (and only then), and validation leaves them be."""
import random
from types import SimpleNamespace

import numpy as np
import torch

from mmpretrain_osdtw.engine.hooks import RNGStateHook


def draw():
    return (random.random(), float(np.random.rand()), float(torch.rand(1)))


def test_resume_restores_the_saved_states():
    hook = RNGStateHook()
    torch.manual_seed(1)
    checkpoint = dict(meta=dict(epoch=3))
    hook.before_save_checkpoint(None, checkpoint)
    expected = draw()
    torch.manual_seed(5)  # a new process seeds afresh
    random.seed(5)
    hook.after_load_checkpoint(None, checkpoint)
    hook.before_train_epoch(SimpleNamespace(epoch=3))
    assert draw() == expected


def test_load_from_for_fine_tuning_keeps_the_fresh_seed():
    hook = RNGStateHook()
    checkpoint = dict(meta=dict(epoch=3))
    hook.before_save_checkpoint(None, checkpoint)
    saved = draw()
    hook.after_load_checkpoint(None, checkpoint)
    hook.before_train_epoch(SimpleNamespace(epoch=0))  # starts at epoch 0
    assert draw() != saved


def test_validation_does_not_consume_training_randomness():
    hook = RNGStateHook()
    torch.manual_seed(2)
    state = torch.get_rng_state()
    hook.before_val(None)
    torch.rand(10)
    hook.after_val(None)
    assert torch.equal(torch.get_rng_state(), state)


def test_resumed_at_the_last_epoch_the_after_train_hooks_get_the_states():
    """Resumed from the last epoch's checkpoint no epoch runs: the states
    come back before FisherHook's after_train (the hook is HIGHEST)."""
    hook = RNGStateHook()
    torch.manual_seed(3)
    checkpoint = dict(meta=dict(epoch=2))
    hook.before_save_checkpoint(None, checkpoint)
    expected = draw()
    torch.manual_seed(7)
    hook.after_load_checkpoint(None, checkpoint)
    hook.after_train(SimpleNamespace(epoch=2))
    assert draw() == expected
