"""A test-only hook: the training process sends itself a signal at a point
named by the environment variable :data:`ENV_VAR`, so that a test can
interrupt a pipeline at the same place every time, however loaded the
machine is.

``OSDTW_TEST_INTERRUPT`` values (``<step>`` is the name of the run's work
dir, i.e. the pipeline step; epochs and iterations count from 1):

- ``stage1_head:2:1:SIGINT``: after iteration 1 of epoch 2;
- ``stage1_tail:end:SIGTERM``: when training is over, after the other
  ``after_train`` hooks (the FisherHook has written its statistics).

Config lines that add it (the module must be on ``PYTHONPATH``)::

    custom_imports = dict(imports=['mmpretrain_osdtw', '_interrupt_hook'],
                          allow_failed_imports=False)
    default_hooks = dict(interrupt=dict(type='InterruptAtHook'))
"""
import os
import os.path as osp
import signal
from typing import Optional

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

ENV_VAR = 'OSDTW_TEST_INTERRUPT'


def interrupt_point() -> Optional[tuple]:
    """``(step, epoch, iteration, signal)`` from :data:`ENV_VAR` (epoch and
    iteration ``'end'`` / None for the end of training), or None."""
    value = os.environ.get(ENV_VAR)
    if not value:
        return None
    *where, name = value.split(':')
    if where[1] == 'end':
        return where[0], 'end', None, getattr(signal, name)
    return where[0], int(where[1]), int(where[2]), getattr(signal, name)


@HOOKS.register_module()
class InterruptAtHook(Hook):
    """Send this process the signal of :data:`ENV_VAR` at its point."""

    priority = 'LOWEST'

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        self._maybe_signal(runner, runner.epoch + 1, batch_idx + 1)

    def after_train(self, runner) -> None:
        self._maybe_signal(runner, 'end', None)

    @staticmethod
    def _maybe_signal(runner, epoch, iteration) -> None:
        point = interrupt_point()
        if point is not None and point[:3] == (osp.basename(
                runner.work_dir), epoch, iteration):
            os.kill(os.getpid(), point[3])
