"""The quiet console: which log records a person sees.

The log file of a run keeps every record; the console shows errors, the
warnings but :data:`ROUTINE_WARNINGS`, and the records logged with
``extra=CONSOLE``::

    logger.info('stage2: running (step 5 of 8)', extra=CONSOLE)

Used by :class:`~mmpretrain_osdtw.engine.runner.QuietConsoleRunner`, the
OSDTW pipeline's logger and the progress hook.
"""
import logging
import re

from mmengine.logging import MMLogger

#: ``extra=`` of a log call whose record the console shows.
CONSOLE = dict(console=True)
#: Warnings the console leaves out (the log file keeps them).
ROUTINE_WARNINGS = re.compile(
    r'"FileClient" will be deprecated|"HardDiskBackend" is the alias|'
    r' is skipped since its requires_grad=False$')


class ConsoleFilter(logging.Filter):
    """Pass errors, the warnings but :data:`ROUTINE_WARNINGS` and the
    records logged with ``extra=CONSOLE``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, 'console', False):
            return True
        if record.levelno != logging.WARNING:
            return record.levelno > logging.WARNING
        return not ROUTINE_WARNINGS.search(record.getMessage())


def quiet_console(logger: MMLogger) -> MMLogger:
    """Add a :class:`ConsoleFilter` to the console handlers of ``logger``
    (not to its file handlers); idempotent."""
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler) or not isinstance(
                handler, logging.StreamHandler):
            continue
        if not any(isinstance(f, ConsoleFilter) for f in handler.filters):
            handler.addFilter(ConsoleFilter())
    return logger
