from . import metrics  # noqa: F401
from .report import format_shot_table, shot_values

__all__ = ['format_shot_table', 'shot_values']
