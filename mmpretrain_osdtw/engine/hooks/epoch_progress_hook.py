"""A progress line on the quiet console, at most one a minute.

:class:`~mmpretrain_osdtw.engine.runner.QuietConsoleRunner` shows one line
when a pipeline step starts and one when it ends; a long training step
(a ViT stage of the converged benchmark takes 10-20 minutes on a CPU) is
silent in between. :class:`EpochProgressHook` adds, at the end of a training
epoch, one console line with the epoch, the epoch's mean loss and the time
left, when at least ``interval_s`` seconds have passed since the last one::

    [OSDTW] stage1_head: epoch 7 of 20, loss 0.4123, about 9 min left

Short steps (the Digits-LT quick start's epochs take a fraction of a second)
print few or none. The time left is the ETA of the run's timer hook
(:class:`~mmpretrain_osdtw.engine.hooks.RecentIterTimerHook`, which smooths
it over the last epochs), read from the message hub. A test run
(``tools/test.py``) gets the same kind of line, at most one a minute::

    [OSDTW] test_vit-nano-p2_bal-bce: testing, batch 120 of 400

The log file gets the same lines. ``QuietConsoleRunner`` adds this hook
itself; mmengine's own Runner (``--verbose``) does not, since its console
already shows every logged iteration.
"""
import os.path as osp
import time
from typing import Optional

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from ..console import CONSOLE


def format_duration(seconds: float) -> str:
    """``42`` -> ``'42 s'``, ``540`` -> ``'9 min'``, ``7300`` ->
    ``'2.0 h'``."""
    if seconds < 90:
        return f'{seconds:.0f} s'
    if seconds < 5400:
        return f'{seconds / 60:.0f} min'
    return f'{seconds / 3600:.1f} h'


def work_dir_name(runner) -> str:
    """The name of a run on the console: its work directory's."""
    return osp.basename(osp.normpath(runner.work_dir))


@HOOKS.register_module()
class EpochProgressHook(Hook):
    """One console line at the end of a training epoch, at most every
    ``interval_s`` seconds (see the module docstring).

    Args:
        interval_s (float): Least seconds between two lines. Defaults to 60.
        name (str, optional): What the line names. Defaults to None: the
            work directory's name (the pipeline step's).
    """

    priority = 'VERY_LOW'

    def __init__(self, interval_s: float = 60.0,
                 name: Optional[str] = None) -> None:
        if not isinstance(interval_s, (int, float)) or interval_s < 0:
            raise ValueError('EpochProgressHook: interval_s must be a number '
                             f'>= 0, got {interval_s!r}')
        self.interval_s = float(interval_s)
        self.name = name
        self._last = 0.0

    def before_train(self, runner) -> None:
        self._last = time.monotonic()

    def before_test(self, runner) -> None:
        self._last = time.monotonic()

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch=None,
                        outputs=None) -> None:
        now = time.monotonic()
        if now - self._last < self.interval_s:
            return
        self._last = now
        try:
            total = f' of {len(runner.test_dataloader)}'
        except TypeError:  # no len()
            total = ''
        runner.logger.info(
            f'[OSDTW] {self.run_name(runner)}: testing, batch '
            f'{batch_idx + 1}{total}',
            extra=CONSOLE)

    def after_train_epoch(self, runner) -> None:
        now = time.monotonic()
        if runner.epoch >= runner.max_epochs or (now - self._last <
                                                 self.interval_s):
            return  # the step's own line reports the end
        self._last = now
        runner.logger.info(self.message(runner), extra=CONSOLE)

    def run_name(self, runner) -> str:
        """``name``, or the work directory's name."""
        return self.name or work_dir_name(runner)

    def message(self, runner) -> str:
        """``[OSDTW] <name>: epoch k of n[, loss x][, about t left]``."""
        text = (f'[OSDTW] {self.run_name(runner)}: epoch {runner.epoch} of '
                f'{runner.max_epochs}')
        hub = runner.message_hub
        if 'train/loss' in hub.log_scalars:
            try:
                window = max(len(runner.train_dataloader), 1)
            except TypeError:  # no len()
                window = 1
            loss = float(hub.get_scalar('train/loss').mean(window))
            text += f', loss {loss:.4f}'
        eta = hub.get_info('eta')
        if eta is not None:
            text += f', about {format_duration(float(eta))} left'
        return text
