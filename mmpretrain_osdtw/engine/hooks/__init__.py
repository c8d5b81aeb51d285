from .class_counts_hook import ClassCountsHook
from .fisher_hook import FisherHook
from .more_schedule_hook import MOREScheduleHook

__all__ = ['ClassCountsHook', 'FisherHook', 'MOREScheduleHook']
