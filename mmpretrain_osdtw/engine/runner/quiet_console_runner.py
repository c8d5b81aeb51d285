"""An mmengine Runner whose console shows only what a person follows.

mmengine's Runner logs everything it logs (the environment, the full config,
the hook table, the parameter-wise optimizer options, every logged
iteration) both to its log file and to the console: 528 lines for the
Digits-LT baseline, 306 before ``tools/test.py``'s table, thousands for the
OSDTW pipeline, which runs a Runner per step. With
:class:`QuietConsoleRunner` (the pipeline's for every step;
``tools/train.py`` and ``tools/test.py`` build it for a single config whose
``runner_type`` is unset or mmengine's, see :func:`use_quiet_console`) the
log file in the run's folder keeps every record, and the console shows only
warnings, errors and the records marked for it::

    runner.logger.info('stage2: running (step 5 of 8)', extra=CONSOLE)

Routine warnings (:data:`ROUTINE_WARNINGS`: mmengine's notices about its own
deprecated names, and one line per frozen parameter of a refinement, which
the optimizer constructor logs as a warning) go to the log file only.

A training step also shows a progress line at the end of an epoch, at most
one a minute (:class:`~mmpretrain_osdtw.engine.hooks.EpochProgressHook`,
which the runner adds unless the config has one).

``--verbose`` (both tools) builds mmengine's own Runner instead, which shows
everything on the console again.
"""
from typing import Optional, Union

from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import Runner
from mmpretrain.registry import RUNNERS

from ..console import CONSOLE, ConsoleFilter, quiet_console  # noqa: F401
from ..hooks.epoch_progress_hook import EpochProgressHook, work_dir_name

#: ``runner_type`` values that a tool may replace by the quiet runner.
PLAIN_RUNNERS = (None, 'Runner', 'QuietConsoleRunner')


def use_quiet_console(cfg: Config, verbose: bool = False) -> None:
    """Build a single config's Runner as :class:`QuietConsoleRunner`
    (``verbose``: as mmengine's ``Runner``, everything on the console).

    A config that names another ``runner_type`` keeps it.

    Args:
        cfg (Config): A training or test config, changed in place.
        verbose (bool): The tool's ``--verbose``.
    """
    if cfg.get('runner_type') in PLAIN_RUNNERS:
        cfg.runner_type = 'Runner' if verbose else 'QuietConsoleRunner'


def log_file_line(runner: Runner) -> None:
    """One console line naming the run's log file (the run's name is its
    work dir's, as in the progress lines)::

        [OSDTW] vit-nano-p2_bal-bce: full log in work_dirs/.../<ts>.log
    """
    hint = ' (--verbose: on the console too)' if isinstance(
        runner, QuietConsoleRunner) else ''
    runner.logger.info(
        f'[OSDTW] {work_dir_name(runner)}: full log in '
        f'{runner.logger.log_file}{hint}',
        extra=CONSOLE)


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
