from .class_counts_hook import ClassCountsHook
from .epoch_progress_hook import EpochProgressHook
from .fisher_hook import FisherHook
from .more_schedule_hook import MOREScheduleHook
from .recent_iter_timer_hook import RecentIterTimerHook
from .rng_state_hook import RNGStateHook

__all__ = [
    'ClassCountsHook', 'EpochProgressHook', 'FisherHook', 'MOREScheduleHook',
    'RecentIterTimerHook', 'RNGStateHook'
]
