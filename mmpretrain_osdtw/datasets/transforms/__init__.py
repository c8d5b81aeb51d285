"""Exact, faster versions of MMPretrain's per-sample training transforms
(same draws and output for the same NumPy random state)."""
from .direct_randomness import (DirectRandomMethod,
                                install_direct_random_methods)
from .fast_processing import FastRandomCrop, FastRandomErasing, FastRandomFlip
from .fast_rand_augment import (FastAutoContrast, FastEqualize,
                                FastRandAugment, auto_contrast_uint8,
                                equalize_uint8)

__all__ = [
    'DirectRandomMethod', 'install_direct_random_methods', 'FastRandomCrop',
    'FastRandomErasing', 'FastRandomFlip', 'FastAutoContrast', 'FastEqualize',
    'FastRandAugment', 'auto_contrast_uint8', 'equalize_uint8'
]
