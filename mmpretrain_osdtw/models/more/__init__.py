"""MORE (model rebalancing, Luo et al., NeurIPS 2025) as a plug-in module.

- :mod:`.low_rank`: ``W = W_g + B A`` on linear layers (inject / general
  path / merge);
- :mod:`.rebalancing_loss`: the prior-weighted full-vs-general discrepancy;
- :mod:`.schedule`: ``alpha(t) = A' K sin(pi t / T)``;
- :mod:`.more_classifier`: the classifier that trains with both;
- :mod:`.merge`: the merged (plain) checkpoint.
"""
from .low_rank import (LowRankLinear, check_rank, find_linear_layers,
                       general_path, inject_low_rank, low_rank_layers,
                       merge_low_rank, tail_parameters)
from .merge import (merge_checkpoint_file, merge_state_dict,
                    save_merged_checkpoint)
from .more_classifier import VIT_TARGETS, MOREClassifier
from .rebalancing_loss import (MORERebalancingLoss, logit_discrepancy,
                               sample_prior_weights)
from .schedule import SHAPES, rebalance_alpha, schedule_factor

__all__ = [
    'LowRankLinear', 'check_rank', 'find_linear_layers', 'general_path',
    'inject_low_rank', 'low_rank_layers', 'merge_low_rank', 'tail_parameters',
    'merge_checkpoint_file', 'merge_state_dict', 'save_merged_checkpoint',
    'VIT_TARGETS', 'MOREClassifier', 'MORERebalancingLoss',
    'logit_discrepancy', 'sample_prior_weights', 'SHAPES', 'rebalance_alpha',
    'schedule_factor'
]
