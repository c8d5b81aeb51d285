"""The OSDTW bias-variance proxy for the shared depth ``C`` and weight ``w_A``.

Pure math on tensors (``float64`` internally), no training code. The
formulas are those of docs/en/advanced_guides/proxy.md (sections 2-4; the
modules below cite it as "proxy.md section N"), with task A = the head task
and task B = the tail task, ``w_B = 1 - w_A``.

Per parameter slot ``j`` (one copy per task) the inputs are the diagonal
Hessians ``h_A, h_B`` (model Fisher), the score variances ``v_A, v_B``
(diagonal empirical Fisher), the cross-task score covariance ``k`` and the
stage-1 mismatch ``d2`` (an estimate of ``Delta_j^2``)::

    H_j(w) = w_A h_A + w_B h_B
    S_j(w) = w_A^2 v_A + w_B^2 v_B + 2 w_A w_B k
    e_j(w) = (h_A + h_B) S_j(w) / (2 N H_j(w)^2)                    # enc var
           + h_A h_B (w_A^2 h_A + w_B^2 h_B) d2_j / (2 H_j(w)^2)     # enc bias
    u_j    = (v_A / h_A + v_B / h_B) / (2 N)                         # dec var
    P(C, w) = U + sum_{l=1..C} T_l(w),   U = sum_j u_j,
    T_l(w) = sum_{j in layer l} (e_j(w) - u_j).

Layer ids: ``1..L`` are the body layers (stem/embeddings in layer 1), ``0``
is the never-shared group (final norm + head). Depth ``C`` shares layers
``1..C``.

Variants (``variant=``):

- ``'full'`` (default): the sandwich form with ``v`` and ``k`` as given
  (a missing ``v`` falls back to ``h``, a missing ``k`` to 0).
- ``'paper'``: the paper-style form ``v = h``, ``k = 0``: ``v`` and ``k`` are
  ignored. This form always puts the optimal ``w_A`` at 0.5 (P1).

Mismatch (``mismatch=``):

- ``'debiased'`` (default): ``d2 = delta^2 - n_j`` with the stage-1 noise
  ``n_j = (v_A/h_A^2 + v_B/h_B^2 - 2k/(h_A h_B)) / N`` (paper-style
  ``(1/h_A + 1/h_B) / N``) plus an optional SGD-noise term; **not floored**,
  so ``d2`` may be negative (per-layer sums stay unbiased).
- ``'debiased-positive'``: the same ``d2``, but each layer's encoder-bias
  sum is floored at 0 (for every ``w``) before the sums over layers. The
  true bias of a layer is ``>= 0``; its unbiased estimate is negative when
  the asymptotic noise ``n_j`` overestimates the real stage-1 difference
  (networks trained by SGD from one initialisation move less than the
  M-estimation noise predicts), and a negative bias pulls the optimal
  ``w_A`` to the edge of the grid. The positive part of an unbiased
  estimate of a non-negative quantity has a lower mean squared error.
- ``'raw'``: ``d2 = delta^2`` (or ``delta2`` as given).

Zero Fisher: a value ``h <= 1e-8 * median`` (the exact lower median of
the *nonzero* ``h`` of that task over the whole model, computed in a
pre-pass by :func:`zero_fisher_threshold`) counts as zero. A slot with
both sides zero costs nothing (``e = u = 0``); a slot with one side zero
is neutral to sharing (``e = u = v_t / (2 N h_t)`` of the nonzero side
``t``, counted as encoder variance when shared).

Methods (``method=``). ``'exact'`` evaluates every ``e_j(w)``: chunks of
flattened tensors, sized so that the ``(chunk x |W|)`` temporaries stay
below ``max_chunk_bytes`` (64 MiB by default); the per-chunk sum over slots
is one matrix product, since every ``e_j(w)`` is a linear combination of
``w_A^2, w_B^2, w_A w_B`` divided by ``H_j(w)^2``. Cost ``O(#params *
|W|)``. ``'expansion'`` makes one ``O(#params)`` pass instead: with ``s_j =
log(h_A / h_B)``, ``H_j(w)^2 = h_A h_B kappa(s_j, w)^-1`` where ``kappa(s,
w) = (w_A e^{s/2} + w_B e^{-s/2})^-2`` depends on the slot only through
``s_j``, so ``e_j(w) = sum_m phi_m(w) A_jm kappa(s_j, w)`` with five
per-slot coefficients ``A_jm`` (``phi = w_A^2, w_B^2, w_A w_B`` for the
variance, ``w_A^2, w_B^2`` for the bias). The slots are binned by ``s``
(width :data:`~.expansion.EXPANSION_BIN_WIDTH`) and ``kappa`` is
Taylor-expanded to :data:`~.expansion.EXPANSION_ORDER` terms around each
bin centre; the pass accumulates the per-layer, per-bin moments ``sum_j
A_jm (s_j - s_b)^k``, and the grid is ``sum_b sum_k moments * kappa_k(s_b,
w)`` (a few thousand numbers per layer). ``kappa`` is analytic in ``s``
within ``|Im s| < pi``, so the truncation error is below ``1e-14``
relative for every ``w`` in ``[0, 1]`` (the results agree with ``'exact'``
to float64 rounding); slots with ``|s| > EXPANSION_MAX_LOG_RATIO`` and the
zero-Fisher cases are evaluated exactly. ``'auto'`` (default) expands
from :data:`AUTO_EXPANSION_WORK` slot-weight pairs on (e.g. a ViT-B with
101 weights), else it is exact.

Modules (one concept each):

- :mod:`.types`: :class:`TaskPairStats`, :class:`SlotCosts`,
  :class:`ProxyGrid` (with the argmin's tie rule).
- :mod:`.validation`: the ``w_A`` grid (:func:`make_w_grid`) and the input
  checks (:func:`validate_stats`).
- :mod:`.thresholds`: the zero-Fisher rule and thresholds
  (:func:`zero_fisher_threshold`, :func:`kth_positive`).
- :mod:`.mismatch`: the mismatch noise and debiasing
  (:func:`mismatch_noise`, :func:`debiased_delta2`).
- :mod:`.layer_mismatch`: the per-layer measured mismatch against its
  noise (:func:`layer_mismatch`, a diagnosis of the local-mismatch
  premise, in ``search.json``).
- :mod:`.noise_scale`: the proxy's noise scale calibrated on the SGD noise
  of two stage-1 seeds (:func:`sgd_effective_num_samples`).
- :mod:`.costs`: reading chunks, the zero-Fisher split of the slot costs
  (one helper for both methods) and the exact costs.
- :mod:`.expansion`: the series expansion.
- :mod:`.grid`: the driver :func:`proxy_grid` and the grid assembly.
- :mod:`._reference`: the full-matrix form and ``slot_costs``, test
  oracles outside the public API.

Example:
    >>> import torch
    >>> stats = [TaskPairStats('blocks.0.w', 1, h_a=torch.tensor([4.]),
    ...                        h_b=torch.tensor([1.]),
    ...                        delta2=torch.tensor([0.25]))]
    >>> grid = proxy_grid(stats, num_layers=1, num_samples=10,
    ...                   w_grid=[0.3, 0.5, 0.7], mismatch='raw')
    >>> grid.argmin()
    (0, 0.5)
"""
from .costs import DEFAULT_CHUNK_BYTES
from .grid import AUTO_EXPANSION_WORK, METHODS, proxy_grid
from .layer_mismatch import layer_mismatch
from .mismatch import debiased_delta2, mismatch_noise
from .noise_scale import (NOISE_SCALES, sgd_effective_num_samples,
                          without_sgd_noise)
from .thresholds import ZERO_FISHER_REL, kth_positive, zero_fisher_threshold
from .types import (MISMATCHES, TIE_RTOL, VARIANTS, ProxyGrid, SlotCosts,
                    TaskPairStats)
from .validation import make_w_grid, validate_stats

__all__ = [
    'AUTO_EXPANSION_WORK', 'DEFAULT_CHUNK_BYTES', 'METHODS', 'MISMATCHES',
    'NOISE_SCALES', 'TIE_RTOL', 'VARIANTS', 'ZERO_FISHER_REL', 'ProxyGrid',
    'SlotCosts', 'sgd_effective_num_samples', 'without_sgd_noise',
    'TaskPairStats', 'debiased_delta2', 'kth_positive', 'layer_mismatch',
    'make_w_grid',
    'mismatch_noise', 'proxy_grid', 'validate_stats', 'zero_fisher_threshold'
]
