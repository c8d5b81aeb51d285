"""SIGINT and SIGTERM as one line and exit code 130, not a traceback.

``tools/train.py`` calls :func:`raise_on_signals` first: both signals then
raise :class:`KeyboardInterrupt` in the main thread (SIGTERM would otherwise
end the process at once, with nothing cleaned up), and a second signal while
the first unwinds is ignored. Whoever knows where the run was wraps it in
:class:`Interrupted` (the pipeline's step ledger: the step; a training step:
its epoch, from :func:`epoch_in_progress`), and the tool prints
:meth:`Interrupted.describe`::

    interrupted in stage1_tail, epoch 3; rerun the same command to resume

Nothing half-written is taken for done on the rerun: a step counts as done
only once its ``done.json`` is written (atomically, last), and a truncated
epoch checkpoint is skipped when resuming.
"""
import signal
from typing import Optional, Sequence

from mmengine.runner import EpochBasedTrainLoop

#: The exit code of an interrupted run (128 + SIGINT, the shell's).
INTERRUPTED_EXIT_CODE = 130
#: What a rerun does, for a run that resumes on its own (the pipeline).
RERUN_RESUMES = 'rerun the same command to resume'


class Interrupted(KeyboardInterrupt):
    """A SIGINT/SIGTERM, with where the run was when it came.

    Args:
        where (str): The pipeline step (or config) that was running.
        epoch (int, optional): The epoch being trained (1-based); None
            where no epoch applies (a Fisher pass, the search, a test).
    """

    def __init__(self, where: str, epoch: Optional[int] = None) -> None:
        super().__init__(where, epoch)
        self.where = where
        self.epoch = epoch

    def describe(self, hint: str = RERUN_RESUMES) -> str:
        """The one line the tool prints, e.g. ``interrupted in stage2,
        epoch 3; rerun the same command to resume``."""
        epoch = '' if self.epoch is None else f', epoch {self.epoch}'
        return f'interrupted in {self.where}{epoch}; {hint}'


def raise_on_signals(signums: Sequence[int] = (signal.SIGINT,
                                               signal.SIGTERM)) -> None:
    """Make each of ``signums`` raise :class:`KeyboardInterrupt` in the
    main thread; the signals that follow the first are ignored, so that the
    unwinding (and the bookkeeping of the interrupted step) completes.

    Args:
        signums (Sequence[int]): The signals. Defaults to SIGINT and
            SIGTERM.
    """

    def handler(signum, frame):
        for other in signums:
            signal.signal(other, signal.SIG_IGN)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for signum in signums:
        signal.signal(signum, handler)


def epoch_in_progress(runner) -> Optional[int]:
    """The epoch an mmengine runner was in (1-based), or None.

    The epoch being trained, or the one whose validation was running; None
    before the training loop is built, for a loop that is not epoch-based,
    and once the last epoch is done (the final validation, a Fisher pass
    after training).

    Args:
        runner (mmengine.runner.Runner): The runner.

    Returns:
        int | None: The epoch.
    """
    loop = getattr(runner, '_train_loop', None)  # a dict until built
    if not isinstance(loop, EpochBasedTrainLoop):
        return None
    done, max_epochs = loop.epoch, loop.max_epochs
    if runner.model.training:
        return done + 1 if done < max_epochs else None
    return done if 0 < done < max_epochs else None
