"""An ETA from the recent iterations, not from every one since the start.

mmengine's ``IterTimerHook`` estimates the time left as the mean time of
every iteration of the run so far times the iterations left. The first
iteration of a run carries one-off costs (the first batch read and decoded,
kernels and allocator warmed up, a busy machine at the start): with 20 s of
them in the first of 840 iterations of 0.1 s, the ETA logged after the first
epoch (14 iterations) is 21 minutes for a stage that takes 104 seconds, and
it stays too high for most of the run. :class:`RecentIterTimerHook` takes the
mean over the last :data:`WINDOW_EPOCHS` epochs' worth of iterations
instead, leaving out the run's first one, so the ETA is right from the first
epoch on and follows a lasting change of speed. One epoch alone is too
short a window on a shared machine: a neighbour's job that starts or ends
halves or doubles the speed of one epoch, and with a one-epoch mean the ETA
jumped from 14 to 7 minutes left within one step; five epochs move it by a
fifth of such a change. The logged ``time``/``data_time`` are mmengine's.

Set in ``configs/_base_/lt_runtime.py`` (``default_hooks.timer``).
"""
from typing import Optional, Sequence, Union

from mmengine.hooks import IterTimerHook
from mmpretrain.registry import HOOKS

#: Epochs in the ETA's window (the iterations of that many epochs).
WINDOW_EPOCHS = 5
#: Iterations in the ETA's window when the loader has no length.
DEFAULT_WINDOW = 500


@HOOKS.register_module()
class RecentIterTimerHook(IterTimerHook):
    """``IterTimerHook`` whose training ETA is the mean time of the recent
    iterations times the iterations left (see the module docstring).

    Args:
        window (int, optional): Iterations in the mean. Defaults to None:
            :data:`WINDOW_EPOCHS` epochs' (the training loader's length
            times that; :data:`DEFAULT_WINDOW` for a loader without one).
    """

    def __init__(self, window: Optional[int] = None) -> None:
        super().__init__()
        if window is not None and (not isinstance(window, int) or window < 1):
            raise ValueError('RecentIterTimerHook: window must be an int '
                             f'>= 1, got {window!r}')
        self.window = window
        self._run_iters = 0

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self._run_iters = 0

    def _window(self, runner) -> int:
        if self.window is not None:
            return self.window
        try:
            return max(len(runner.train_dataloader), 1) * WINDOW_EPOCHS
        except TypeError:  # no len()
            return DEFAULT_WINDOW

    def _after_iter(self,
                    runner,
                    batch_idx: int,
                    data_batch=None,
                    outputs: Optional[Union[dict, Sequence]] = None,
                    mode: str = 'train') -> None:
        super()._after_iter(runner, batch_idx, data_batch, outputs, mode)
        if mode != 'train':
            return
        self._run_iters += 1
        # the run's first iteration counts only while it is the only one
        window = min(self._window(runner), max(self._run_iters - 1, 1))
        seconds = float(
            runner.message_hub.get_scalar('train/time').mean(window))
        runner.message_hub.update_info(
            'eta', seconds * (runner.max_iters - runner.iter - 1))
