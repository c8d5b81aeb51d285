from .shot_group_metric import ShotGroupMetric, shot_groups

__all__ = ['ShotGroupMetric', 'shot_groups']
