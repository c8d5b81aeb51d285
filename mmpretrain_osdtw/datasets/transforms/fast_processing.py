"""Exact, faster versions of the per-sample crop, flip and erasing steps.

Each class subclasses the MMPretrain / mmcv transform of the same name and
gives the same output for the same NumPy random state (the same draws in
the same order; tested on many images and seeds), so a config can swap
``type='RandomCrop'`` for ``type='FastRandomCrop'`` (and likewise for
``RandomFlip`` and ``RandomErasing``) without changing the augmentation's
distribution. What they remove is per-call overhead:

- the random methods are :class:`DirectRandomMethod` s (no ``copy.copy`` of
  the ``cache_randomness`` decorator per call);
- ``FastRandomCrop`` crops by slicing (the view ``mmcv.imcrop`` returns for
  an in-bounds box, without its box scaling and clipping);
- ``FastRandomFlip`` draws the direction from a cumulative table built
  once, as ``np.random.choice(directions, p=probs)`` does per call (one
  ``random_sample``, ``searchsorted(side='right')``).
"""
import math
from typing import List, Optional

import mmcv
import numpy as np
from mmcv.transforms import RandomFlip
from mmpretrain.datasets.transforms import RandomCrop, RandomErasing
from mmpretrain.registry import TRANSFORMS

from .direct_randomness import (DirectRandomMethod,
                                install_direct_random_methods)


@TRANSFORMS.register_module()
class FastRandomCrop(RandomCrop):
    """``RandomCrop`` (MMPretrain) with the crop taken by slicing; same
    arguments, same output."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        install_direct_random_methods(self)

    def transform(self, results: dict) -> dict:
        """Pad as ``RandomCrop`` does, then crop a random window by slicing
        (``mmcv.imcrop`` returns the same view for an in-bounds box)."""
        img = results['img']
        if self.padding is not None:
            img = mmcv.impad(img, padding=self.padding, pad_val=self.pad_val)
        if self.pad_if_needed:
            h_pad = math.ceil(max(0, self.crop_size[0] - img.shape[0]) / 2)
            w_pad = math.ceil(max(0, self.crop_size[1] - img.shape[1]) / 2)
            img = mmcv.impad(
                img,
                padding=(w_pad, h_pad, w_pad, h_pad),
                pad_val=self.pad_val,
                padding_mode=self.padding_mode)
        offset_h, offset_w, target_h, target_w = self.rand_crop_params(img)
        img = img[offset_h:offset_h + target_h, offset_w:offset_w + target_w,
                  ...]
        results['img'] = img
        results['img_shape'] = img.shape
        return results


def flip_choice_table(direction, prob) -> Optional[tuple]:
    """The outcomes and cumulative probabilities ``RandomFlip`` draws from:
    ``(outcomes, cdf)`` with ``None`` (no flip) last, built from the same
    lists ``RandomFlip._choose_direction`` builds on every call; ``None``
    where that method would fail (e.g. an int ``prob``), so that the caller
    keeps MMPretrain's method and its error."""
    if isinstance(direction, str):
        outcomes: List = [direction, None]
    elif isinstance(direction, (list, tuple)):
        outcomes = list(direction) + [None]
    else:
        return None
    if isinstance(prob, list):
        probs = prob + [1 - sum(prob)]
    elif isinstance(prob, float):
        single = prob / (len(outcomes) - 1)
        probs = [single] * (len(outcomes) - 1) + [1. - prob]
    else:
        return None
    cdf = np.array(probs, dtype=np.float64).cumsum()
    cdf /= cdf[-1]
    return np.array(outcomes, dtype=object), cdf


@TRANSFORMS.register_module()
class FastRandomFlip(RandomFlip):
    """``RandomFlip`` (mmcv) with the direction drawn from a table built
    once; same arguments, same draws, same output."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._choice_table = flip_choice_table(self.direction, self.prob)
        if self._choice_table is None:
            install_direct_random_methods(self)
        else:
            self._choose_direction = DirectRandomMethod(
                self, '_choose_direction', FastRandomFlip._draw_direction)

    def _draw_direction(self) -> Optional[str]:
        """``np.random.choice(outcomes, p=probs)`` without its per-call
        checks: one ``random_sample``, ``searchsorted(side='right')``."""
        outcomes, cdf = self._choice_table
        return outcomes[cdf.searchsorted(
            np.random.random_sample(), side='right')]


@TRANSFORMS.register_module()
class FastRandomErasing(RandomErasing):
    """``RandomErasing`` (MMPretrain) without the per-call copies of its
    random methods; same arguments, same output."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        install_direct_random_methods(self)
