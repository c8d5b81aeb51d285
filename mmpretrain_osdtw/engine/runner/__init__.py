from .quiet_console_runner import CONSOLE, QuietConsoleRunner
from .stage_runner import PIPELINE_STEPS, StageRunner

__all__ = ['CONSOLE', 'PIPELINE_STEPS', 'QuietConsoleRunner', 'StageRunner']
