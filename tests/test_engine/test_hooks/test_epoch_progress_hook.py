"""EpochProgressHook: a console line at the end of an epoch, at most one per
interval, with the epoch's mean loss and the timer hook's time left; none at
the last epoch (the pipeline step's own line reports the end)."""
import logging
from types import SimpleNamespace

import pytest
from mmengine.logging import MessageHub

from mmpretrain_osdtw.engine.hooks import EpochProgressHook
from mmpretrain_osdtw.engine.hooks.epoch_progress_hook import format_duration
from mmpretrain_osdtw.engine.runner.quiet_console_runner import (
    ConsoleFilter, QuietConsoleRunner)


class Clock:

    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        return self.now


class Records(logging.Handler):

    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        # what the quiet console would show
        if ConsoleFilter().filter(record):
            self.lines.append(record.getMessage())


def make_runner(name, tmp_path, epochs=20, iters=4):
    logger = logging.getLogger(f'epoch_progress_{name}')
    logger.setLevel(logging.INFO)
    records = Records()
    logger.addHandler(records)
    hub = MessageHub.get_instance(f'epoch_progress_{name}')
    runner = SimpleNamespace(
        epoch=0,
        max_epochs=epochs,
        work_dir=str(tmp_path / 'stage1_head'),
        train_dataloader=range(iters),
        message_hub=hub,
        logger=logger)
    return runner, records


def run_epochs(hook, runner, clock, epochs, seconds, loss=0.5):
    hook.before_train(runner)
    for _ in range(epochs):
        for _ in range(len(runner.train_dataloader)):
            runner.message_hub.update_scalar('train/loss', loss)
        clock.now += seconds
        runner.epoch += 1
        runner.message_hub.update_info(
            'eta', seconds * (runner.max_epochs - runner.epoch))
        hook.after_train_epoch(runner)


def test_one_line_per_interval_with_loss_and_time_left(tmp_path,
                                                       monkeypatch):
    clock = Clock()
    monkeypatch.setattr(
        'mmpretrain_osdtw.engine.hooks.epoch_progress_hook.time', clock)
    runner, records = make_runner('interval', tmp_path)
    # 25-second epochs, 60-second interval: a line after epochs 3, 6, 9, ...
    run_epochs(EpochProgressHook(), runner, clock, 7, 25.0, loss=0.41234)
    assert records.lines == [
        '[OSDTW] stage1_head: epoch 3 of 20, loss 0.4123, about 7 min left',
        '[OSDTW] stage1_head: epoch 6 of 20, loss 0.4123, about 6 min left',
    ]


def test_no_line_at_the_last_epoch_or_within_the_interval(
        tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(
        'mmpretrain_osdtw.engine.hooks.epoch_progress_hook.time', clock)
    runner, records = make_runner('last', tmp_path, epochs=3)
    run_epochs(EpochProgressHook(interval_s=0), runner, clock, 3, 1.0)
    assert [line.split(',')[0] for line in records.lines] == [
        '[OSDTW] stage1_head: epoch 1 of 3', '[OSDTW] stage1_head: epoch 2 of 3'
    ]
    runner, records = make_runner('quick', tmp_path, epochs=50)
    run_epochs(EpochProgressHook(), runner, clock, 49, 0.2)  # 10 s in all
    assert records.lines == []


def test_a_long_test_shows_its_batches(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(
        'mmpretrain_osdtw.engine.hooks.epoch_progress_hook.time', clock)
    runner, records = make_runner('test', tmp_path)
    runner.work_dir = str(tmp_path / 'test_vit_bal-bce')
    runner.test_dataloader = range(400)
    hook = EpochProgressHook()
    hook.before_test(runner)
    for batch in range(400):  # 0.5 s a batch: a line every 120 batches
        clock.now += 0.5
        hook.after_test_iter(runner, batch)
    assert records.lines == [
        f'[OSDTW] test_vit_bal-bce: testing, batch {k} of 400'
        for k in (120, 240, 360)
    ]


def test_the_line_names_what_it_is_given_and_skips_missing_values(tmp_path):
    runner, _ = make_runner('bare', tmp_path)
    runner.message_hub = MessageHub.get_instance('epoch_progress_empty')
    runner.epoch = 2
    hook = EpochProgressHook(name='stage2')
    assert hook.message(runner) == '[OSDTW] stage2: epoch 2 of 20'


def test_durations_read_naturally():
    assert [format_duration(s) for s in (42, 540, 7300)] == [
        '42 s', '9 min', '2.0 h'
    ]


@pytest.mark.parametrize('bad', [-1, 'often', None])
def test_a_bad_interval_is_refused(bad):
    with pytest.raises(ValueError, match='interval_s must be a number'):
        EpochProgressHook(interval_s=bad)


def test_the_quiet_runner_adds_the_hook_once(tmp_path):
    import torch.nn as nn
    from mmengine.model import BaseModel

    class Toy(BaseModel):

        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(1, 1)

        def forward(self, *args, **kwargs):
            return {}

    def names(runner):
        return [type(h).__name__ for h in runner.hooks]

    added = QuietConsoleRunner(
        model=Toy(), work_dir=str(tmp_path / 'a'), experiment_name='a_run',
        default_scope='mmpretrain')
    assert names(added).count('EpochProgressHook') == 1
    own = QuietConsoleRunner(
        model=Toy(),
        work_dir=str(tmp_path / 'b'),
        experiment_name='b_run',
        default_scope='mmpretrain',
        custom_hooks=[dict(type='EpochProgressHook', interval_s=5)])
    hooks = [h for h in own.hooks if type(h).__name__ == 'EpochProgressHook']
    assert len(hooks) == 1 and hooks[0].interval_s == 5.0
