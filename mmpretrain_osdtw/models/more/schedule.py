r"""The reweighting schedule of MORE: ``alpha(t) = A sin(pi t / T)``.

The peak amplitude is given class-count-normalised, ``A = A' K`` (the
paper reports ``A'``; ``A' = 2.0`` by default), so that with the prior
weights ``w_y = pi_y`` of the rebalancing loss (mean about ``1 / K``) the
effective per-sample weight ``alpha w_y`` is ``O(A')`` whatever ``K``.

Other shapes are kept for ablations: ``'constant'`` (``A`` throughout),
``'linear'`` (``A t / T``) and ``'cosine_ramp'`` (``A (1 - cos(pi t / T)) /
2``, the monotone ramp some summaries report).
"""
import math
from numbers import Real

SHAPES = ('sine', 'constant', 'linear', 'cosine_ramp')


def check_amplitude(amplitude: float) -> float:
    """Check the normalised amplitude ``A'`` (finite, ``>= 0``)."""
    if isinstance(amplitude, bool) or not isinstance(amplitude, Real):
        raise TypeError(f'amplitude must be a number, got '
                        f'{type(amplitude).__name__} ({amplitude!r})')
    if not math.isfinite(amplitude) or amplitude < 0:
        raise ValueError(f'amplitude must be a finite number >= 0, got '
                         f'{amplitude!r}')
    return float(amplitude)


def schedule_factor(progress: float, shape: str = 'sine') -> float:
    """The schedule's shape at ``progress = t / T`` in ``[0, 1]``.

    Args:
        progress (float): Fraction of training done.
        shape (str): One of :data:`SHAPES`. Defaults to ``'sine'``.

    Returns:
        float: A factor in ``[0, 1]``.
    """
    if shape not in SHAPES:
        raise ValueError(f'shape must be one of {SHAPES}, got {shape!r}')
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f'progress t/T must be in [0, 1], got {progress}')
    if shape == 'sine':
        return math.sin(math.pi * progress)
    if shape == 'constant':
        return 1.0
    if shape == 'linear':
        return progress
    return 0.5 * (1.0 - math.cos(math.pi * progress))


def rebalance_alpha(step: int,
                    total: int,
                    amplitude: float,
                    num_classes: int,
                    shape: str = 'sine') -> float:
    """``alpha(t) = A' K sin(pi t / T)`` (or another shape).

    Args:
        step (int): ``t``: iterations (or epochs) done, ``0..T``.
        total (int): ``T``: iterations (or epochs) of the whole training.
        amplitude (float): The normalised peak ``A' >= 0``.
        num_classes (int): ``K``.
        shape (str): One of :data:`SHAPES`. Defaults to ``'sine'``.

    Returns:
        float: ``alpha(t)``.

    Example:
        >>> rebalance_alpha(50, 100, amplitude=2.0, num_classes=10)
        20.0
    """
    amplitude = check_amplitude(amplitude)
    if total < 1:
        raise ValueError(f'the schedule length T must be >= 1, got {total}')
    if not 0 <= step <= total:
        raise ValueError(f'step t={step} is outside 0..{total}')
    if num_classes < 1:
        raise ValueError(f'num_classes must be >= 1, got {num_classes}')
    return amplitude * num_classes * schedule_factor(step / total, shape)
