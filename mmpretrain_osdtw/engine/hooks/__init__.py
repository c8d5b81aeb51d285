from .class_counts_hook import ClassCountsHook
from .fisher_hook import FisherHook, fisher_dataloader_cfg
from .more_schedule_hook import MOREScheduleHook

__all__ = [
    'ClassCountsHook', 'FisherHook', 'fisher_dataloader_cfg',
    'MOREScheduleHook'
]
