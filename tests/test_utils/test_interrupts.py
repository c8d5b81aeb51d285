"""Interrupts: the one line, SIGTERM raising like SIGINT, and the epoch an
mmengine runner was in."""
import os
import signal
from types import SimpleNamespace

import pytest
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
from torch import nn

from mmpretrain_osdtw.utils import (Interrupted, epoch_in_progress,
                                    raise_on_signals)


def test_the_line_names_the_step_and_the_epoch():
    assert Interrupted('stage2', 3).describe() == (
        'interrupted in stage2, epoch 3; rerun the same command to resume')
    assert Interrupted('search').describe('rerun it') == (
        'interrupted in search; rerun it')
    assert isinstance(Interrupted('x'), KeyboardInterrupt)


@pytest.fixture
def restored_handlers():
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_a_signal_raises_and_the_next_ones_are_ignored(
        restored_handlers, signum):
    raise_on_signals()
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signum)  # the handler runs right after
    for other in (signal.SIGINT, signal.SIGTERM):
        assert signal.getsignal(other) == signal.SIG_IGN
    os.kill(os.getpid(), signal.SIGTERM)  # ignored while unwinding


def epoch_loop(done: int, max_epochs: int):
    loop = EpochBasedTrainLoop.__new__(EpochBasedTrainLoop)
    loop._epoch, loop._max_epochs = done, max_epochs
    return loop


def runner(loop, training: bool = True):
    model = nn.Linear(1, 1).train(training)
    return SimpleNamespace(_train_loop=loop, model=model)


def test_epoch_in_progress():
    assert epoch_in_progress(runner(epoch_loop(0, 3))) == 1  # epoch 1
    assert epoch_in_progress(runner(epoch_loop(2, 3))) == 3
    # validation after epoch 2; after the last epoch (a Fisher pass): none
    assert epoch_in_progress(runner(epoch_loop(2, 3), training=False)) == 2
    assert epoch_in_progress(runner(epoch_loop(3, 3), training=False)) is None
    assert epoch_in_progress(runner(dict(type='EpochBasedTrainLoop'))) is None
    iter_loop = IterBasedTrainLoop.__new__(IterBasedTrainLoop)
    assert epoch_in_progress(runner(iter_loop)) is None
    assert epoch_in_progress(None) is None
