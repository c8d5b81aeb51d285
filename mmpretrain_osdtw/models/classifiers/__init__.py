from .dual_decoder import DualDecoderClassifier, ViTDecoder
from .ensemble import (ScoreEnsemble, ensemble_checkpoint,
                       ensemble_state_dict)
from .task_pair import (TaskPairClassifier, split_task_pair_checkpoint,
                        split_task_pair_state)

__all__ = [
    'DualDecoderClassifier', 'ViTDecoder', 'TaskPairClassifier',
    'split_task_pair_checkpoint', 'split_task_pair_state', 'ScoreEnsemble',
    'ensemble_checkpoint', 'ensemble_state_dict'
]
