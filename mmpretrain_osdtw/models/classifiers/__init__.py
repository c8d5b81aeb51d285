from .dual_decoder import DualDecoderClassifier, ViTDecoder
from .task_pair import (TaskPairClassifier, split_task_pair_checkpoint,
                        split_task_pair_state)

__all__ = [
    'DualDecoderClassifier', 'ViTDecoder', 'TaskPairClassifier',
    'split_task_pair_checkpoint', 'split_task_pair_state'
]
