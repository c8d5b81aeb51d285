"""Exact, faster ``RandAugment`` and its two histogram operations.

``FastRandAugment`` takes the arguments of MMPretrain's ``RandAugment`` and
gives the same output for the same NumPy random state (same draws, same
order, same pixels; tested for every operation of the ``timm_increasing``
policies, with and without ``magnitude_std``), so a config can swap the
type without changing the augmentation's distribution. It removes:

- the ``Compose`` built on every call (the chosen operations are applied in
  a plain loop, stopping at ``None`` as ``Compose`` does);
- the per-call ``copy.copy`` of mmcv's ``cache_randomness`` decorator, in
  its own and its operations' random methods (:class:`DirectRandomMethod`);
- ``np.random.choice(np.arange(n), size=k)`` for the chosen operations, by
  the draw it makes, ``np.random.randint(0, n, size=k)``;
- the three per-channel ``np.histogram`` calls of ``AutoContrast`` and
  ``Equalize`` (mmcv's ``auto_contrast`` and ``imequalize``), by one
  ``np.bincount`` over the three channels and one look-up table. For
  ``uint8`` images the 256 histogram bins over (0, 255) are exactly the 256
  pixel values, so the counts, the tables and the pixels are the same
  (other images use mmcv's functions).

The other operations are MMPretrain's own classes (same code, only the
random-method copies removed).
"""
from numbers import Number
from typing import List, Optional, Union

import mmcv
import numpy as np
from mmpretrain.datasets.transforms import (AutoContrast, Equalize,
                                            RandAugment)
from mmpretrain.registry import TRANSFORMS

from .direct_randomness import (DirectRandomMethod,
                                install_direct_random_methods)

_VALUES = np.array(range(256))  # int64, as mmcv's look-up tables start
_CHANNEL_OFFSETS = np.array([0, 256, 512], dtype=np.int16)


def _is_uint8_three_channel(img) -> bool:
    return (isinstance(img, np.ndarray) and img.dtype == np.uint8
            and img.ndim == 3 and img.shape[2] == 3)


def _channel_histograms(img: np.ndarray) -> tuple:
    """Per-channel value counts (3, 256) and the flat indices into a
    (3, 256) table of every pixel of an ``(H, W, 3)`` ``uint8`` image."""
    flat = img + _CHANNEL_OFFSETS  # int16, channel c -> 256 c + value
    counts = np.bincount(flat.ravel(), minlength=768).reshape(3, 256)
    return counts, flat


def auto_contrast_uint8(img: np.ndarray) -> np.ndarray:
    """``mmcv.auto_contrast(img)`` (cutoff 0) for an ``(H, W, 3)`` ``uint8``
    image, with the same float64 look-up table per channel."""
    counts, flat = _channel_histograms(img)
    table = np.empty((3, 256), dtype=np.uint8)
    for c in range(3):
        present = np.flatnonzero(counts[c])
        low, high = present[0], present[-1]
        if low >= high:
            table[c] = _VALUES
            continue
        scale = 255.0 / (high - low)
        offset = -low * scale
        table[c] = np.clip(_VALUES * scale + offset, 0, 255)
    return table.ravel()[flat]


def equalize_uint8(img: np.ndarray) -> np.ndarray:
    """``mmcv.imequalize(img)`` for an ``(H, W, 3)`` ``uint8`` image, with
    the same integer look-up table per channel."""
    counts, flat = _channel_histograms(img)
    table = np.empty((3, 256), dtype=np.uint8)
    for c in range(3):
        histo = counts[c]
        nonzero_histo = histo[histo > 0]
        step = (np.sum(nonzero_histo) - nonzero_histo[-1]) // 255
        if not step:
            table[c] = _VALUES
            continue
        lut = (np.cumsum(histo) + (step // 2)) // step
        lut = np.concatenate([[0], lut[:-1]], 0)
        lut[lut > 255] = 255
        table[c] = lut
    return table.ravel()[flat]


@TRANSFORMS.register_module()
class FastAutoContrast(AutoContrast):
    """``AutoContrast`` with the look-up table from one ``bincount``; same
    arguments, same output."""

    def __init__(self, prob: float = 0.5, **kwargs):
        super().__init__(prob=prob, **kwargs)
        install_direct_random_methods(self)

    def transform(self, results: dict) -> dict:
        if self.random_disable():
            return results
        img = results['img']
        if _is_uint8_three_channel(img):
            results['img'] = auto_contrast_uint8(img)
        else:
            results['img'] = mmcv.auto_contrast(img).astype(img.dtype)
        return results


@TRANSFORMS.register_module()
class FastEqualize(Equalize):
    """``Equalize`` with the look-up table from one ``bincount``; same
    arguments, same output."""

    def __init__(self, prob: float = 0.5, **kwargs):
        super().__init__(prob=prob, **kwargs)
        install_direct_random_methods(self)

    def transform(self, results: dict) -> dict:
        if self.random_disable():
            return results
        img = results['img']
        if _is_uint8_three_channel(img):
            results['img'] = equalize_uint8(img)
        else:
            results['img'] = mmcv.imequalize(img).astype(img.dtype)
        return results


@TRANSFORMS.register_module()
class FastRandAugment(RandAugment):
    """``RandAugment`` without the per-call ``Compose`` and random-method
    copies, with :class:`FastAutoContrast` and :class:`FastEqualize`; same
    arguments, same draws, same output.

    Args: as :class:`mmpretrain.datasets.transforms.RandAugment`.
    """

    #: policy types replaced by an exact faster class
    FAST_TYPES = dict(AutoContrast='FastAutoContrast', Equalize='FastEqualize')

    def __init__(self,
                 policies: Union[str, List[dict]],
                 num_policies: int,
                 magnitude_level: int,
                 magnitude_std: Union[Number, str] = 0.,
                 total_level: int = 10,
                 hparams: dict = dict(pad_val=128)):
        super().__init__(
            policies=policies,
            num_policies=num_policies,
            magnitude_level=magnitude_level,
            magnitude_std=magnitude_std,
            total_level=total_level,
            hparams=hparams)
        for i, policy in enumerate(self.policies):
            fast = self.FAST_TYPES.get(policy['type'])
            if fast is not None:
                self.transforms[i] = TRANSFORMS.build(dict(policy, type=fast))
            install_direct_random_methods(self.transforms[i])
        self.random_policy_indices = DirectRandomMethod(
            self, 'random_policy_indices',
            FastRandAugment._draw_policy_indices)

    def _draw_policy_indices(self) -> List[int]:
        """The draw ``np.random.choice(np.arange(n), size=k)`` makes."""
        return np.random.randint(
            0, len(self.policies), size=self.num_policies).tolist()

    def transform(self, results: dict) -> Optional[dict]:
        """Apply the randomly chosen operations in turn."""
        for i in self.random_policy_indices():
            results = self.transforms[i](results)
            if results is None:
                return None
        return results
