from .class_counts_hook import ClassCountsHook
from .fisher_hook import (FisherHook, fisher_dataloader_cfg,
                          task_fisher_from_config)
from .more_schedule_hook import MOREScheduleHook

__all__ = [
    'ClassCountsHook', 'FisherHook', 'fisher_dataloader_cfg',
    'task_fisher_from_config', 'MOREScheduleHook'
]
