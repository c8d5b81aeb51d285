from .logit_adjusted_heads import (LogitAdjustedBCEHead, LogitAdjustedCEHead,
                                   pack_predictions)

__all__ = ['LogitAdjustedBCEHead', 'LogitAdjustedCEHead', 'pack_predictions']
