"""The proxy's noise scale: asymptotic, or calibrated on the SGD noise.

Both the proxy's variance terms and the noise ``n_j`` that the debiased
mismatch subtracts carry the asymptotic ``1/N`` scale of an M-estimator
(proxy.md sections 2 and 4). For networks fine-tuned by SGD from one
pretrained solution that scale can be far off: on the converged
CIFAR-10-LT benchmark the seed-to-seed spread of a stage-1 task model is
about two million times below the asymptotic noise. By proxy.md's P3,
getting the scale wrong by a factor ``c`` is the same as using ``N c``, so
the scale can be calibrated: :func:`sgd_effective_num_samples` returns the
``N_eff`` at which the asymptotic noise of the body slots sums to their
measured SGD noise (``0.5 (theta^(1) - theta^(2))^2`` of two seeds per
task, summed over the two tasks; :mod:`~mmpretrain_osdtw.osdtw.sgd_noise`).
The proxy then runs with ``N_eff`` and without the SGD-noise term, which
is already the noise scale (``noise_scale='sgd'`` of
:func:`~mmpretrain_osdtw.osdtw.search.run_search`). This keeps the
asymptotic form's shape across slots and replaces only its overall level;
the SGD noise leaves out the sampling noise of the data, so it is a lower
bound of the real noise.
"""
from dataclasses import replace
from typing import List, Sequence

from .layer_mismatch import layer_mismatch
from .thresholds import ZERO_FISHER_REL, _thresholds
from .types import TaskPairStats

#: ``noise_scale=`` values: the asymptotic ``1/N``, or calibrated on SGD.
NOISE_SCALES = ('asymptotic', 'sgd')


def sgd_effective_num_samples(stats: Sequence[TaskPairStats],
                              num_layers: int,
                              num_samples: float,
                              variant: str = 'full',
                              zero_rel: float = ZERO_FISHER_REL) -> float:
    """``N_eff = N * sum(asymptotic n_j) / sum(sgd_noise_j)`` over the
    body slots (layers ``1..L``) with a nonzero Fisher for both tasks.

    Args:
        stats (Sequence[TaskPairStats]): With ``sgd_noise`` on every body
            tensor.
        num_layers (int): ``L``.
        num_samples (float): ``N``.
        variant (str): ``'full'`` or ``'paper'`` (the noise's form).
        zero_rel (float): Relative zero-Fisher threshold.

    Returns:
        float: The calibrated ``N_eff``.

    Raises:
        ValueError: If a body tensor has no SGD noise, or it is 0 on every
            body slot.
    """
    stats = list(stats)
    missing = [s.name for s in stats if s.layer > 0 and s.sgd_noise is None]
    if missing:
        raise ValueError(f'noise scale "sgd": {missing[0]!r} has no '
                         'sgd_noise (write the statistics files with '
                         'tools/osdtw_sgd_noise.py)')
    rows = layer_mismatch(stats, num_layers, num_samples,
                          _thresholds(stats, zero_rel, None), variant)
    body = [r for r in rows if r['layer'] > 0]
    sgd = sum(r['sgd_noise'] for r in body)
    asymptotic = sum(r['noise'] - r['sgd_noise'] for r in body)
    if not sgd > 0 or not asymptotic > 0:
        raise ValueError('noise scale "sgd": the SGD noise (or the '
                         'asymptotic noise) sums to 0 over the body slots: '
                         'two identical seeds, or stage-1 models that did '
                         'not move from their initialisation')
    return num_samples * asymptotic / sgd


def without_sgd_noise(stats: Sequence[TaskPairStats]) -> List[TaskPairStats]:
    """The statistics with their SGD-noise term dropped."""
    return [replace(s, sgd_noise=None) for s in stats]
