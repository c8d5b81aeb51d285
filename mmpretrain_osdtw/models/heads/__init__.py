from .logit_adjusted_heads import LogitAdjustedBCEHead, LogitAdjustedCEHead

__all__ = ['LogitAdjustedBCEHead', 'LogitAdjustedCEHead']
