"""An mmengine Runner whose console shows only what a person follows.

mmengine's Runner logs everything it logs (the environment, the full config,
the hook table, the parameter-wise optimizer options, every logged
iteration) both to its log file and to the console. The OSDTW pipeline runs
a Runner per step, so its console showed thousands of lines. With
:class:`QuietConsoleRunner` (``runner_type = 'QuietConsoleRunner'``, set in
``configs/_base_/osdtw_pipeline.py``, and used by the pipeline for every
step) the log file in the run's folder keeps every record, and the console
shows only warnings, errors and the records marked for it::

    runner.logger.info('stage2: running (step 5 of 8)', extra=CONSOLE)

Routine warnings (:data:`ROUTINE_WARNINGS`: mmengine's notices about its own
deprecated names, and one line per frozen parameter of a refinement, which
the optimizer constructor logs as a warning) go to the log file only.

A training step also shows a progress line at the end of an epoch, at most
one a minute (:class:`~mmpretrain_osdtw.engine.hooks.EpochProgressHook`,
which the runner adds unless the config has one).

``tools/train.py --verbose`` builds mmengine's own Runner instead, which
shows everything on the console again.
"""
from typing import Optional, Union

from mmengine.logging import MMLogger
from mmengine.runner import Runner
from mmpretrain.registry import RUNNERS

from ..console import CONSOLE, ConsoleFilter, quiet_console  # noqa: F401
from ..hooks.epoch_progress_hook import EpochProgressHook

def _hook_type(hook) -> str:
    """The type name of a hook or of a hook config."""
    if isinstance(hook, dict):
        kind = hook.get('type')
        return kind if isinstance(kind, str) else getattr(
            kind, '__name__', '')
    return type(hook).__name__


@RUNNERS.register_module()
class QuietConsoleRunner(Runner):
    """mmengine's Runner, its console limited by :class:`ConsoleFilter`.

    Everything else is the Runner's: the log file
    (``work_dir/<timestamp>/<timestamp>.log``) holds every record, the
    config dump and the hook table included. An ``EpochProgressHook`` is
    added when the config's ``custom_hooks`` has none.
    """

    def register_hooks(self,
                       default_hooks: Optional[dict] = None,
                       custom_hooks: Optional[list] = None) -> None:
        custom_hooks = list(custom_hooks or [])
        if not any(
                _hook_type(hook) == EpochProgressHook.__name__
                for hook in custom_hooks):
            custom_hooks.append(EpochProgressHook())
        super().register_hooks(default_hooks, custom_hooks)

    def build_logger(self,
                     log_level: Union[int, str] = 'INFO',
                     log_file: Optional[str] = None,
                     **kwargs) -> MMLogger:
        return quiet_console(super().build_logger(log_level, log_file,
                                                  **kwargs))
