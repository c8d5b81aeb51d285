from .stage_runner import PIPELINE_STEPS, StageRunner

__all__ = ['PIPELINE_STEPS', 'StageRunner']
