from .logit_adjusted_bce_loss import (LogitAdjustedBCELoss,
                                      log_prior_odds_from_counts)
from .logit_adjusted_ce_loss import LogitAdjustedCELoss, log_prior_from_counts

__all__ = [
    'LogitAdjustedBCELoss', 'LogitAdjustedCELoss',
    'log_prior_odds_from_counts', 'log_prior_from_counts'
]
