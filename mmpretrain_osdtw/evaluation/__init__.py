from . import metrics  # noqa: F401
from .pipeline_report import (ASSEMBLED_ROW, PAIR_ROW, REFINED_ROW,
                              STAGE1_ROW, STAGE2_ROW, report_markdown,
                              write_pipeline_report)
from .report import format_shot_table, shot_values

__all__ = [
    'format_shot_table', 'shot_values', 'ASSEMBLED_ROW', 'PAIR_ROW',
    'REFINED_ROW', 'STAGE1_ROW', 'STAGE2_ROW', 'report_markdown',
    'write_pipeline_report'
]
