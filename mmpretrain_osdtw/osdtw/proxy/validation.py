"""Checks of the proxy's inputs: the ``w_A`` grid, the scalars and the
per-tensor statistics (errors name the tensor and the field)."""
import math
from typing import Optional

import torch
from torch import Tensor

from mmpretrain_osdtw.utils import check_int
from .types import (_DTYPE, _NONNEGATIVE, MISMATCHES, VARIANTS, TaskPairStats,
                    WGrid, _round_w)


def make_w_grid(step: float = 0.01,
                w_min: float = 0.0,
                w_max: float = 1.0) -> Tensor:
    """Evenly spaced task weights ``w_A`` from ``w_min`` to ``w_max``.

    Args:
        step (float): Spacing; ``(w_max - w_min) / step`` must be an integer
            (to 1e-6).
        w_min (float): First weight, in ``[0, 1]``.
        w_max (float): Last weight, in ``[w_min, 1]``.

    Returns:
        Tensor: float64 weights, rounded to 12 decimals.

    Example:
        >>> make_w_grid(0.25).tolist()
        [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    if not (0.0 <= w_min <= w_max <= 1.0):
        raise ValueError('need 0 <= w_min <= w_max <= 1, got '
                         f'w_min={w_min}, w_max={w_max}')
    if not (step > 0 and math.isfinite(step)):
        raise ValueError(f'w step must be a positive number, got {step}')
    count = (w_max - w_min) / step
    if abs(count - round(count)) > 1e-6:
        raise ValueError(f'w step {step} does not divide the range '
                         f'[{w_min}, {w_max}] evenly')
    num = int(round(count)) + 1
    values = [_round_w(w_min + i * step) for i in range(num)]
    return torch.tensor(values, dtype=_DTYPE)


def _check_w_grid(w_grid: Optional[WGrid]) -> Tensor:
    """Validate the weight grid: 1-D, finite, in [0, 1], increasing."""
    if w_grid is None:
        return make_w_grid()
    w = torch.as_tensor(w_grid, dtype=_DTYPE).flatten()
    if w.numel() == 0:
        raise ValueError('w_grid is empty')
    if not torch.isfinite(w).all():
        raise ValueError(f'w_grid has non-finite entries: {w.tolist()}')
    bad = w[(w < 0) | (w > 1)]
    if bad.numel():
        raise ValueError('w_grid entries must lie in [0, 1], got '
                         f'{bad.tolist()}')
    if w.numel() > 1 and not (w[1:] > w[:-1]).all():
        raise ValueError('w_grid must be strictly increasing')
    return w


def _check_scalars(num_layers: int, num_samples: float, variant: str,
                   mismatch: str) -> None:
    """Validate the scalar arguments of the proxy."""
    check_int('num_layers', num_layers, 1)
    if isinstance(num_samples, bool) or not isinstance(
            num_samples, (int, float)) or not math.isfinite(num_samples) \
            or num_samples <= 0:
        raise ValueError('num_samples (N) must be a positive number, got '
                         f'{num_samples!r}')
    if variant not in VARIANTS:
        raise ValueError(f'variant must be one of {VARIANTS}, got '
                         f'{variant!r}')
    if mismatch not in MISMATCHES:
        raise ValueError(f'mismatch must be one of {MISMATCHES}, got '
                         f'{mismatch!r}')


def validate_stats(stats: TaskPairStats, num_layers: int) -> None:
    """Check one tensor's statistics; errors name the tensor and the field.

    Args:
        stats (TaskPairStats): The statistics.
        num_layers (int): ``L``; the layer id must be in ``0..L``.

    Raises:
        TypeError: If a field is not a tensor.
        ValueError: On a bad layer id, shape mismatch, non-finite entries,
            negative ``h``/``v``/``sgd_noise``, or not exactly one of
            ``delta``/``delta2``.
    """
    name = stats.name
    layer = stats.layer
    if isinstance(layer, bool) or not isinstance(layer, int) \
            or not 0 <= layer <= num_layers:
        raise ValueError(f'{name}: layer id {layer!r} is outside 0..'
                         f'{num_layers} (0 = never shared, 1..L = body)')
    if (stats.delta is None) == (stats.delta2 is None):
        raise ValueError(f'{name}: give exactly one of delta and delta2')
    for key in ('h_a', 'h_b'):
        if getattr(stats, key) is None:
            raise ValueError(f'{name}: {key} is missing')
    shape = None
    for key, value in stats.tensors().items():
        if not isinstance(value, Tensor):
            raise TypeError(f'{name}: {key} must be a torch.Tensor, got '
                            f'{type(value).__name__}')
        if shape is None:
            shape = value.shape
        elif value.shape != shape:
            raise ValueError(f'{name}: {key} has shape {tuple(value.shape)}, '
                             f'expected {tuple(shape)} (the shape of h_a)')
        if value.is_complex() or not (value.is_floating_point() or value.dtype
                                      in (torch.int32, torch.int64)):
            raise TypeError(f'{name}: {key} must be a real tensor, got '
                            f'{value.dtype}')
        if _finite_and_signed(value, key in _NONNEGATIVE):
            continue
        if not torch.isfinite(value).all():
            raise ValueError(f'{name}: {key} has non-finite entries')
        if key in _NONNEGATIVE and (value < 0).any():
            raise ValueError(f'{name}: {key} has negative entries '
                             f'(min {float(value.min()):.3g})')


def _finite_and_signed(value: Tensor, nonnegative: bool) -> bool:
    """One-pass check: all entries finite (and ``>= 0`` if asked).

    ``aminmax`` propagates NaN, so finite extremes mean finite entries.
    False means "look closer" (the caller finds and names the problem).
    """
    if not value.numel():
        return True
    low, high = (float(v) for v in torch.aminmax(value))
    return (math.isfinite(low) and math.isfinite(high)
            and (not nonnegative or low >= 0))
