"""The OSDTW bias-variance proxy for the shared depth ``C`` and weight ``w_A``.

Pure math on tensors (``float64`` internally), no training code. The
formulas are those of ``PROXY_SPEC.md`` (sections 2-4), with task A = the
head task and task B = the tail task, ``w_B = 1 - w_A``.

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
(width :data:`EXPANSION_BIN_WIDTH`) and ``kappa`` is Taylor-expanded to
:data:`EXPANSION_ORDER` terms around each bin centre; the pass accumulates
the per-layer, per-bin moments ``sum_j A_jm (s_j - s_b)^k``, and the grid
is ``sum_b sum_k moments * kappa_k(s_b, w)`` (a few thousand numbers per
layer). ``kappa`` is analytic in ``s`` within ``|Im s| < pi``, so the
truncation error is below ``1e-14`` relative for every ``w`` in ``[0, 1]``
(the results agree with ``'exact'`` to float64 rounding); slots with
``|s| > EXPANSION_MAX_LOG_RATIO`` and the zero-Fisher cases are evaluated
exactly. ``'auto'`` (default) expands from :data:`AUTO_EXPANSION_WORK`
slot-weight pairs on (e.g. a ViT-B with 101 weights), else it is exact.

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
import math
import time
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from mmpretrain_osdtw.utils import check_int

VARIANTS = ('full', 'paper')
MISMATCHES = ('debiased', 'debiased-positive', 'raw')
METHODS = ('auto', 'exact', 'expansion')
#: Values ``h <= ZERO_FISHER_REL * median(nonzero h)`` count as zero.
ZERO_FISHER_REL = 1e-8
#: Budget for the ``(chunk x |W|)`` temporaries of one chunk.
DEFAULT_CHUNK_BYTES = 64 * 2**20
#: Up to this many nonzero values the zero-Fisher median is exact (i.e.
#: always, by default; a smaller value switches to a histogram estimate).
EXACT_MEDIAN_LIMIT = 2**62
#: Relative tolerance under which two grid cells count as tied.
TIE_RTOL = 1e-12
#: ``method='auto'`` expands from this many ``slots x |W|`` evaluations on.
AUTO_EXPANSION_WORK = 2**24
#: Bin width in ``s = log(h_A / h_B)`` of the series expansion.
EXPANSION_BIN_WIDTH = 0.25
#: Taylor terms per bin (relative kernel error below 1e-14).
EXPANSION_ORDER = 12
#: Slots with ``|log(h_A / h_B)|`` above this are evaluated exactly.
EXPANSION_MAX_LOG_RATIO = 200.0
#: Slots per chunk of the expansion pass (at most; see ``max_chunk_bytes``).
EXPANSION_CHUNK = 2**16

_DTYPE = torch.float64
_STAT_FIELDS = ('h_a', 'h_b', 'v_a', 'v_b', 'k', 'delta', 'delta2',
                'sgd_noise')
_NONNEGATIVE = ('h_a', 'h_b', 'v_a', 'v_b', 'sgd_noise')

WGrid = Union[Tensor, Sequence[float]]


@dataclass
class TaskPairStats:
    """Stage-1 statistics of one parameter tensor for both tasks.

    All tensors have the same shape (that of the parameter). Task A is the
    head task, task B the tail task.

    Args:
        name (str): Parameter name, used in error messages.
        layer (int): Layer id, ``0`` (never shared: final norm + head) or
            ``1..L``.
        h_a (Tensor): Diagonal Hessian / model Fisher of task A.
        h_b (Tensor): Same for task B.
        v_a (Tensor, optional): Score variance (diagonal empirical Fisher)
            of task A. ``None`` means ``v_a = h_a``.
        v_b (Tensor, optional): Same for task B.
        k (Tensor, optional): Cross-task score covariance
            ``mean_i g_A g_B``. ``None`` means 0.
        delta (Tensor, optional): ``theta_A - theta_B`` (stage-1 optima).
        delta2 (Tensor, optional): The raw squared mismatch, used instead of
            ``delta ** 2``. With ``mismatch='raw'`` it is used as given, so a
            pre-debiased (possibly negative) value may be passed. Exactly
            one of ``delta`` and ``delta2`` must be given.
        sgd_noise (Tensor, optional): Optimisation noise of ``delta``
            (``0.5 (theta^(1) - theta^(2))^2`` of two seeds, summed over the
            two tasks), added to the asymptotic noise by the debiasing.
    """
    name: str
    layer: int
    h_a: Tensor
    h_b: Tensor
    v_a: Optional[Tensor] = None
    v_b: Optional[Tensor] = None
    k: Optional[Tensor] = None
    delta: Optional[Tensor] = None
    delta2: Optional[Tensor] = None
    sgd_noise: Optional[Tensor] = None

    def tensors(self) -> Dict[str, Tensor]:
        """Return the given (non-``None``) statistics by field name."""
        return {
            key: getattr(self, key)
            for key in _STAT_FIELDS if getattr(self, key) is not None
        }

    def numel(self) -> int:
        """Number of parameter slots of this tensor."""
        return self.h_a.numel()


@dataclass
class SlotCosts:
    """Costs of a set of slots, summed over the slots.

    Attributes:
        shared_var (Tensor): ``(W,)`` encoder-variance part of ``sum e_j(w)``.
        shared_bias (Tensor): ``(W,)`` encoder-bias part of ``sum e_j(w)``.
        unshared (Tensor): 0-dim, ``sum u_j`` (decoder variance if the slots
            are task-specific).
    """
    shared_var: Tensor
    shared_bias: Tensor
    unshared: Tensor

    @property
    def excess(self) -> Tensor:
        """``sum_j (e_j(w) - u_j)``: the change of ``P`` when sharing."""
        return self.shared_var + self.shared_bias - self.unshared

    def __add__(self, other: 'SlotCosts') -> 'SlotCosts':
        return SlotCosts(self.shared_var + other.shared_var,
                         self.shared_bias + other.shared_bias,
                         self.unshared + other.unshared)


@dataclass
class ProxyGrid:
    """The proxy ``P(C, w_A)`` on the grid ``C = 0..L`` x ``w_grid``.

    ``proxy = enc_var + enc_bias + dec_var`` (up to rounding), where for
    depth ``C`` the encoder terms sum over the shared slots (layers
    ``1..C``) and ``dec_var`` sums ``u_j`` over the others (layers ``> C``
    and group 0).

    Attributes:
        proxy (Tensor): ``(L + 1, W)`` float64.
        enc_var (Tensor): ``(L + 1, W)`` encoder variance.
        enc_bias (Tensor): ``(L + 1, W)`` encoder bias (may be negative with
            the debiased mismatch).
        dec_var (Tensor): ``(L + 1, W)`` decoder variance (constant in w).
        w_grid (Tensor): ``(W,)`` the task weights ``w_A``.
        num_layers (int): ``L``.
        num_samples (float): ``N``.
        variant (str): ``'full'`` or ``'paper'``.
        mismatch (str): ``'debiased'``, ``'debiased-positive'`` or
            ``'raw'``.
        diagnostics (dict): Counts (slots, zero-Fisher slots, negative
            ``d2``), the zero-Fisher thresholds and the method used.
        timings (dict): Seconds spent by :func:`proxy_grid` per phase
            (``validate``, ``thresholds``, ``pass``, ``evaluate``,
            ``grid``); not part of :meth:`to_dict`.
    """
    proxy: Tensor
    enc_var: Tensor
    enc_bias: Tensor
    dec_var: Tensor
    w_grid: Tensor
    num_layers: int
    num_samples: float
    variant: str
    mismatch: str
    diagnostics: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    def argmin(self) -> Tuple[int, float]:
        """The minimising ``(C, w_A)``.

        Cells within ``TIE_RTOL * max|P|`` of the minimum count as tied;
        ties go to the larger ``C``, then to the ``w_A`` closest to 0.5,
        then to the smaller ``w_A``.

        Returns:
            tuple[int, float]: ``(C, w_A)``.
        """
        c, i = _tie_broken_argmin(self.proxy, self.w_grid)
        return c, float(self.w_grid[i])

    def best_w_per_depth(self) -> List[Tuple[float, float]]:
        """Per depth ``C = 0..L``: ``(w_A, P)`` minimising ``P(C, .)``.

        Ties are broken as in :meth:`argmin` (closest to 0.5, then smaller).
        """
        out = []
        for row in self.proxy:
            _, i = _tie_broken_argmin(row[None], self.w_grid)
            out.append((float(self.w_grid[i]), float(row[i])))
        return out

    def to_dict(self) -> dict:
        """JSON-ready dict of the grid (lists of floats, rows ``C=0..L``)."""
        c, w = self.argmin()
        return dict(
            chosen=dict(
                C=c,
                w_A=w,
                w_B=_round_w(1.0 - w),
                proxy=float(self.proxy[c, self.w_index(w)])),
            variant=self.variant,
            mismatch=self.mismatch,
            N=self.num_samples,
            L=self.num_layers,
            w_grid=[float(x) for x in self.w_grid],
            grid=dict(
                proxy=self.proxy.tolist(),
                enc_var=self.enc_var.tolist(),
                enc_bias=self.enc_bias.tolist(),
                dec_var=self.dec_var.tolist()),
            per_depth=[
                dict(C=ci, w_A=wi, proxy=pi)
                for ci, (wi, pi) in enumerate(self.best_w_per_depth())
            ],
            diagnostics=dict(self.diagnostics))

    def w_index(self, w: float) -> int:
        """Index of the grid weight closest to ``w``."""
        return int(torch.argmin((self.w_grid - w).abs()))


# --------------------------------------------------------------- helpers
def _round_w(w: float) -> float:
    """Round a weight to 12 decimals (removes ``0.7000000000000001``)."""
    return round(float(w), 12)


def _tie_broken_argmin(values: Tensor, w_grid: Tensor) -> Tuple[int, int]:
    """Argmin of a ``(rows, W)`` grid with the documented tie rule."""
    best = values.min()
    scale = values.abs().max()
    tol = TIE_RTOL * float(scale) if float(scale) > 0 else 0.0
    cand = (values <= best + tol).nonzero().tolist()
    # larger C first, then |w - 0.5| smallest, then smaller w.
    cand.sort(key=lambda rc:
              (-rc[0], abs(float(w_grid[rc[1]]) - 0.5), float(w_grid[rc[1]])))
    return cand[0][0], cand[0][1]


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


# ---------------------------------------------------------- zero Fisher
def zero_fisher_threshold(tensors: Iterable[Tensor],
                          rel: float = ZERO_FISHER_REL,
                          exact_limit: int = EXACT_MEDIAN_LIMIT,
                          bins: int = 4096) -> Optional[float]:
    """``rel`` times the median of the nonzero entries of ``tensors``.

    The median is the exact lower median (the ``ceil(n / 2)``-th smallest of
    the ``n`` positive entries) when ``n <= exact_limit`` (by default always):
    it is found by selection (:func:`kth_positive`), a few ``O(n)`` passes
    without sorting or copying all values. Above ``exact_limit`` it is read
    off a ``bins``-bin histogram of ``log h`` instead (the relative error is
    at most half a bin, e.g. under 1% for a range of 1e-30..1e3).

    Args:
        tensors (Iterable[Tensor]): The Fisher tensors of one task.
        rel (float): The relative threshold. Defaults to 1e-8.
        exact_limit (int): Largest count for the exact median.
        bins (int): Histogram bins of the approximate median.

    Returns:
        float | None: The threshold, or ``None`` if every entry is zero.

    Example:
        >>> zero_fisher_threshold([torch.tensor([0., 1., 2., 3.])], rel=0.5)
        1.0
    """
    tensors = _flat_pieces(tensors)
    count = sum(int((t > 0).sum()) for t in tensors)
    if count == 0:
        return None
    if count <= exact_limit:
        return rel * kth_positive(tensors, (count + 1) // 2, count)
    lo, hi = math.inf, -math.inf
    for t in tensors:
        pos = t[t > 0]
        if pos.numel():
            logs = pos.to(_DTYPE).log()
            lo, hi = min(lo, float(logs.min())), max(hi, float(logs.max()))
    if hi <= lo:
        return rel * math.exp(lo)
    hist = torch.zeros(bins, dtype=_DTYPE)
    for t in tensors:
        pos = t[t > 0]
        if pos.numel():
            hist += torch.histc(
                pos.to(_DTYPE).log(), bins=bins, min=lo, max=hi)
    rank = (count + 1) // 2  # the lower median is the rank-th smallest
    idx = int(torch.searchsorted(hist.cumsum(0), float(rank)))
    width = (hi - lo) / bins
    return rel * math.exp(lo + (min(idx, bins - 1) + 0.5) * width)


#: Pieces of this many values keep the selection passes in cache.
SELECT_PIECE = 2**18


def _flat_pieces(tensors: Iterable[Tensor]) -> List[Tensor]:
    """Flattened views of the tensors, cut into cache-sized pieces."""
    return [
        piece for t in tensors for piece in t.reshape(-1).split(SELECT_PIECE)
    ]


#: Up to this many positive values :func:`kth_positive` selects directly.
SELECT_DIRECT_LIMIT = 2**20
#: Sample size of the bracketing step of :func:`kth_positive`.
SELECT_SAMPLE = 2**16


def kth_positive(tensors: Sequence[Tensor],
                 rank: int,
                 count: Optional[int] = None) -> float:
    """The ``rank``-th smallest positive entry of ``tensors``, exactly.

    Small inputs are gathered and selected with ``kthvalue``. Large ones
    (more than :data:`SELECT_DIRECT_LIMIT` positive values) are bracketed
    first: a fixed-seed random sample gives two values ``lo <= hi`` whose
    ranks surround ``rank`` with overwhelming probability; one pass counts
    the positive values below ``lo`` and collects those in ``[lo, hi]``,
    and the answer is selected among the collected ones. If the bracket
    misses (or the sample is degenerate), the direct selection runs, so the
    result is always exact.

    Args:
        tensors (Sequence[Tensor]): Tensors of any real dtype.
        rank (int): 1-based rank among the positive entries.
        count (int, optional): Number of positive entries, if known.

    Returns:
        float: The selected value.

    Example:
        >>> kth_positive([torch.tensor([0., 3., 1.]), torch.tensor([2.])], 2)
        2.0
    """
    tensors = _flat_pieces(tensors)
    if count is None:
        count = sum(int((t > 0).sum()) for t in tensors)
    if not 1 <= rank <= count:
        raise ValueError(f'rank {rank} is outside 1..{count} (the number of '
                         'positive entries)')
    if count > SELECT_DIRECT_LIMIT:
        bracket = _sample_bracket(tensors, rank / count)
        if bracket is not None:
            lo, hi = bracket
            below = sum(int(((t > 0) & (t < lo)).sum()) for t in tensors)
            inside = torch.cat([t[(t >= lo) & (t <= hi)] for t in tensors])
            if below < rank <= below + inside.numel():
                return float(inside.kthvalue(rank - below).values)
    values = torch.cat([t[t > 0] for t in tensors])
    return float(values.kthvalue(rank).values)


def _sample_bracket(tensors: Sequence[Tensor],
                    quantile: float) -> Optional[Tuple[float, float]]:
    """Values around the ``quantile`` of the positive entries (a sample)."""
    gen = torch.Generator().manual_seed(0)
    total = sum(t.numel() for t in tensors)
    parts = []
    for t in tensors:
        size = math.ceil(SELECT_SAMPLE * t.numel() / total)
        parts.append(t[torch.randint(t.numel(), (size, ), generator=gen)])
    sample = torch.cat(parts)
    sample = sample[sample > 0].sort().values
    m = sample.numel()
    if m < 1024:
        return None
    # 8 binomial standard deviations of the sample rank, plus slack
    margin = 8.0 * math.sqrt(quantile * (1.0 - quantile) / m) + 4.0 / m
    lo_idx = math.floor((quantile - margin) * m)
    hi_idx = math.ceil((quantile + margin) * m)
    if lo_idx < 0 or hi_idx >= m:
        return None
    return float(sample[lo_idx]), float(sample[hi_idx])


def _zero_masks(h_a: Tensor, h_b: Tensor, zero_a: float,
                zero_b: float) -> Tuple[Tensor, Tensor]:
    """Boolean masks of the slots whose Fisher counts as zero."""
    return ~(h_a > zero_a), ~(h_b > zero_b)


# ------------------------------------------------------------ mismatch
def mismatch_noise(h_a: Tensor,
                   h_b: Tensor,
                   num_samples: float,
                   v_a: Optional[Tensor] = None,
                   v_b: Optional[Tensor] = None,
                   k: Optional[Tensor] = None,
                   sgd_noise: Optional[Tensor] = None,
                   zero_a: float = 0.0,
                   zero_b: float = 0.0) -> Tensor:
    """Noise variance ``n_j`` of the stage-1 difference ``theta_A - theta_B``.

    ``n_j = (v_A/h_A^2 + v_B/h_B^2 - 2k/(h_A h_B)) / N + sgd_noise``;
    with ``v = h`` and ``k = 0`` (the defaults) this is the paper-style
    ``(1/h_A + 1/h_B) / N``. Slots with a zero-Fisher side (``h <=`` its
    threshold) get ``n_j = sgd_noise`` (or 0): their mismatch does not
    enter the proxy.

    Args:
        h_a, h_b (Tensor): Hessian diagonals.
        num_samples (float): ``N``.
        v_a, v_b (Tensor, optional): Score variances (default ``h``).
        k (Tensor, optional): Cross-task covariance (default 0).
        sgd_noise (Tensor, optional): Extra optimisation noise.
        zero_a, zero_b (float): Zero-Fisher thresholds.

    Returns:
        Tensor: float64 ``n_j``, same shape as ``h_a``.
    """
    h_a, h_b = h_a.to(_DTYPE), h_b.to(_DTYPE)
    za, zb = _zero_masks(h_a, h_b, zero_a, zero_b)
    dead = za | zb
    ha = torch.where(dead, torch.ones_like(h_a), h_a)
    hb = torch.where(dead, torch.ones_like(h_b), h_b)
    va = ha if v_a is None else v_a.to(_DTYPE)
    vb = hb if v_b is None else v_b.to(_DTYPE)
    noise = va / ha.square() + vb / hb.square()
    if k is not None:
        noise = noise - 2 * k.to(_DTYPE) / (ha * hb)
    noise = torch.where(dead, torch.zeros_like(noise), noise / num_samples)
    if sgd_noise is not None:
        noise = noise + sgd_noise.to(_DTYPE)
    return noise


def debiased_delta2(delta: Tensor,
                    h_a: Tensor,
                    h_b: Tensor,
                    num_samples: float,
                    v_a: Optional[Tensor] = None,
                    v_b: Optional[Tensor] = None,
                    k: Optional[Tensor] = None,
                    sgd_noise: Optional[Tensor] = None,
                    zero_a: float = 0.0,
                    zero_b: float = 0.0) -> Tensor:
    """Unbiased estimate of ``Delta_j^2``: ``delta^2 - n_j``, not floored.

    ``E[delta_j^2] = Delta_j^2 + n_j`` (PROXY_SPEC section 4), so the result
    may be negative; per-layer sums of it are unbiased. See
    :func:`mismatch_noise` for ``n_j`` and the arguments.

    Returns:
        Tensor: float64 debiased squared mismatch.

    Example:
        >>> one = torch.ones(1)
        >>> debiased_delta2(torch.tensor([1.0]), one, one, 4).tolist()
        [0.5]
    """
    noise = mismatch_noise(h_a, h_b, num_samples, v_a, v_b, k, sgd_noise,
                           zero_a, zero_b)
    return delta.to(_DTYPE).square() - noise


# ------------------------------------------------------------ slot costs
def _chunk_costs(h_a: Tensor, h_b: Tensor, v_a: Tensor, v_b: Tensor,
                 k: Optional[Tensor], d2: Tensor, num_samples: float,
                 w: Tensor, zero_a: float, zero_b: float) -> SlotCosts:
    """Summed slot costs of one chunk of 1-D float64 inputs."""
    za, zb = _zero_masks(h_a, h_b, zero_a, zero_b)
    ha = torch.where(za, torch.ones_like(h_a), h_a)
    hb = torch.where(zb, torch.ones_like(h_b), h_b)
    ua = torch.where(za, torch.zeros_like(ha), v_a / ha)
    ub = torch.where(zb, torch.zeros_like(hb), v_b / hb)
    two_n = 2.0 * num_samples
    u = (ua + ub) / two_n
    unshared = u.sum()
    one_sided = za ^ zb
    # One-sided slots are neutral: e = u (w-independent variance).
    neutral = u[one_sided].sum() if one_sided.any() else u.new_zeros(())
    both = ~(za | zb)
    if not both.all():
        ha, hb, v_a, v_b, d2 = ha[both], hb[both], v_a[both], v_b[both], \
            d2[both]
        k = None if k is None else k[both]
    shared_var = torch.full_like(w, float(neutral))
    shared_bias = torch.zeros_like(w)
    if ha.numel():
        # e_j(w) = sum_m coef[j, m] * phi_m(w) / H_j(w)^2 with
        # phi = (w_A^2, w_B^2, w_A w_B); sum over j is one matmul.
        s = (ha + hb) / two_n
        bias_scale = 0.5 * ha * hb * d2
        cross = torch.zeros_like(s) if k is None else 2.0 * s * k
        coef = torch.stack(
            [s * v_a, s * v_b, cross, bias_scale * ha, bias_scale * hb], dim=1)
        inv_h2 = torch.addr(hb[:, None], ha - hb, w)  # H_j(w)
        inv_h2.reciprocal_().square_()
        m = coef.T @ inv_h2  # (5, W)
        wa2, wb2, wab = w.square(), (1.0 - w).square(), w * (1.0 - w)
        shared_var = shared_var + wa2 * m[0] + wb2 * m[1] + wab * m[2]
        shared_bias = shared_bias + wa2 * m[3] + wb2 * m[4]
    return SlotCosts(shared_var, shared_bias, unshared)


def _expansion_chunk_size(max_chunk_bytes: int) -> int:
    """Slots per chunk of the expansion pass (about 40 float64 per slot)."""
    return max(1, min(EXPANSION_CHUNK, int(max_chunk_bytes) // (40 * 8)))


def _chunk_size(num_w: int, max_chunk_bytes: int) -> int:
    """Slots per chunk so that ``(chunk x W)`` float64 temporaries fit."""
    # Up to two (chunk x W) float64 arrays are alive at a time.
    return max(1, int(max_chunk_bytes) // (2 * 8 * max(num_w, 1)))


def slot_costs(h_a: Tensor,
               h_b: Tensor,
               v_a: Optional[Tensor],
               v_b: Optional[Tensor],
               k: Optional[Tensor],
               d2: Tensor,
               num_samples: float,
               w_grid: WGrid,
               zero_a: float = 0.0,
               zero_b: float = 0.0,
               max_chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> SlotCosts:
    """Costs of a set of slots, summed over the slots, for every ``w_A``.

    Inputs are used as given (no validation beyond shapes): ``v = None``
    means ``v = h``, ``k = None`` means 0, ``d2`` is the mismatch estimate
    (see :func:`debiased_delta2`).

    Args:
        h_a, h_b, v_a, v_b, k, d2 (Tensor): Same-shape slot statistics.
        num_samples (float): ``N``.
        w_grid (Tensor | Sequence[float]): ``(W,)`` weights ``w_A``.
        zero_a, zero_b (float): Zero-Fisher thresholds (``h <=`` counts as
            zero).
        max_chunk_bytes (int): Budget of the ``(chunk x W)`` temporaries.

    Returns:
        SlotCosts: ``shared_var(w) + shared_bias(w) = sum_j e_j(w)`` and
        ``unshared = sum_j u_j``; ``excess = sum_j (e_j(w) - u_j)``.

    Example:
        >>> t = lambda x: torch.tensor([x])
        >>> c = slot_costs(t(4.), t(1.), None, None, None, t(0.25), 10,
        ...                [0.7])
        >>> round(float(c.shared_var[0] + c.shared_bias[0]), 6)
        0.15999
    """
    w = torch.as_tensor(w_grid, dtype=_DTYPE).flatten()
    flat = [
        None if t is None else t.reshape(-1)
        for t in (h_a, h_b, v_a, v_b, k, d2)
    ]
    n = flat[0].numel()
    for t in flat[1:]:
        if t is not None and t.numel() != n:
            raise ValueError('slot_costs: all inputs need the same number '
                             f'of elements, got {t.numel()} and {n}')
    total = SlotCosts(
        torch.zeros_like(w), torch.zeros_like(w), torch.zeros((),
                                                              dtype=_DTYPE))
    step = _chunk_size(w.numel(), max_chunk_bytes)
    for start in range(0, n, step):
        part = [
            None if t is None else t[start:start + step].to(_DTYPE)
            for t in flat
        ]
        ha, hb, va, vb, kk, dd = part
        total = total + _chunk_costs(ha, hb, ha if va is None else va,
                                     hb if vb is None else vb, kk, dd,
                                     num_samples, w, zero_a, zero_b)
    return total


# ------------------------------------------------- series expansion
def _kernel_taylor(s_b: Tensor, w: Tensor, order: int) -> Tensor:
    """Taylor coefficients of the kernel around the bin centres ``s_b``.

    ``kappa(s, w) = (w_A e^{s/2} + w_B e^{-s/2})^-2``, expanded in
    ``x = s - s_b``: with ``F(x) = a e^{x/2} + b e^{-x/2}`` (``a = w_A
    e^{s_b/2}``, ``b = w_B e^{-s_b/2}``), ``F_k = (a + (-1)^k b) / (2^k
    k!)``; ``G = 1/F`` by series division and ``kappa = G^2``.

    Args:
        s_b (Tensor): ``(B,)`` float64 bin centres.
        w (Tensor): ``(W,)`` float64 weights ``w_A``.
        order (int): Number of coefficients ``K``.

    Returns:
        Tensor: ``(B, W, K)`` float64, ``kappa(s_b + x) ~ sum_k c_k x^k``.
    """
    half = s_b.to(_DTYPE)[:, None] / 2
    a = w[None, :] * half.exp()
    b = (1.0 - w[None, :]) * (-half).exp()
    f = []
    for k in range(order):
        scale = 2.0**k * math.factorial(k)
        f.append((a + b if k % 2 == 0 else a - b) / scale)
    g = [f[0].reciprocal()]
    for k in range(1, order):
        acc = sum(f[i] * g[k - i] for i in range(1, k + 1))
        g.append(-acc * g[0])
    coef = [sum(g[i] * g[k - i] for i in range(k + 1)) for k in range(order)]
    return torch.stack(coef, dim=-1)


class _MomentSums:
    """Per-layer, per-bin moments ``sum_j A_jm x_j^k`` of the expansion.

    Channels ``m``: ``A_1 = v_A r``, ``A_2 = v_B r``, ``A_3 = 2 k r`` with
    ``r = (1/h_A + 1/h_B) / (2N)`` (encoder variance, multiplied by
    ``w_A^2, w_B^2, w_A w_B``) and ``A_4 = d2 h_A / 2``, ``A_5 = d2 h_B / 2``
    (encoder bias, multiplied by ``w_A^2, w_B^2``), so that ``e_j(w) =
    sum_m phi_m(w) A_jm kappa(s_j, w)`` with ``s_j = log(h_A / h_B)``.
    """

    def __init__(self, bin_width: float, order: int):
        self.bin_width = bin_width
        self.order = order
        self.sums: Dict[int, Dict[int, Tensor]] = {}

    def add(self, layer: int, bins: List[int], moments: List[Tensor]) -> None:
        """Add the ``(5, K)`` moments of some bins to a layer."""
        per_layer = self.sums.setdefault(layer, {})
        for b, m in zip(bins, moments):
            if b in per_layer:
                per_layer[b] += m
            else:
                per_layer[b] = m.clone()

    def evaluate(self, rows: int, w: Tensor) -> Tuple[Tensor, Tensor]:
        """``(shared_var, shared_bias)``, each ``(rows, W)``: the expanded
        slots of every layer ``0..rows-1``.

        All layers share one kernel evaluation at the union of their bins
        (one series division for the whole grid).
        """
        var = torch.zeros(rows, w.numel(), dtype=_DTYPE)
        bias = torch.zeros_like(var)
        keys = sorted(set().union(*self.sums.values()))
        if not keys:
            return var, bias
        index = {b: i for i, b in enumerate(keys)}
        centres = torch.tensor(keys, dtype=_DTYPE) * self.bin_width
        kernel = _kernel_taylor(centres, w, self.order)  # (B, W, K)
        # moments[layer, bin]: (rows, B, 5, K), zero where a layer has none
        moments = torch.zeros(rows, len(keys), 5, self.order, dtype=_DTYPE)
        for layer, per_layer in self.sums.items():
            for b, m in per_layer.items():
                moments[layer, index[b]] = m
        t = torch.einsum('lbmk,bwk->mlw', moments, kernel)  # (5, rows, W)
        wa2, wb2, wab = w.square(), (1.0 - w).square(), w * (1.0 - w)
        var = wa2 * t[0] + wb2 * t[1] + wab * t[2]
        bias = wa2 * t[3] + wb2 * t[4]
        return var, bias


def _expansion_costs(ha: Tensor, hb: Tensor, va: Tensor, vb: Tensor,
                     k: Optional[Tensor], d2: Tensor, num_samples: float,
                     w: Tensor, zero_a: float, zero_b: float,
                     sums: _MomentSums, layer: int) -> SlotCosts:
    """Chunk costs with the both-nonzero slots expanded into ``sums``.

    The returned :class:`SlotCosts` holds the exact ``w``-independent parts
    (``unshared`` and the neutral one-sided slots) and the exact costs of
    the slots that :func:`_expand_slots` does not expand.
    """
    za, zb = _zero_masks(ha, hb, zero_a, zero_b)
    ha1 = torch.where(za, torch.ones_like(ha), ha)
    hb1 = torch.where(zb, torch.ones_like(hb), hb)
    ia, ib = ha1.reciprocal(), hb1.reciprocal()
    ua = torch.where(za, torch.zeros_like(ha), va * ia)
    ub = torch.where(zb, torch.zeros_like(hb), vb * ib)
    two_n = 2.0 * num_samples
    unshared = (ua.sum() + ub.sum()) / two_n
    one_sided = za ^ zb
    neutral = (ua[one_sided].sum() + ub[one_sided].sum()) / two_n
    both = ~(za | zb)
    k = None if k is None else k[both]
    far = _expand_slots(ha[both], hb[both], ia[both], ib[both], va[both],
                        vb[both], k, d2[both], num_samples, w, sums, layer)
    return SlotCosts(far.shared_var + neutral, far.shared_bias, unshared)


def _expand_slots(ha: Tensor, hb: Tensor, ia: Tensor, ib: Tensor, va: Tensor,
                  vb: Tensor, k: Optional[Tensor], d2: Tensor,
                  num_samples: float, w: Tensor, sums: _MomentSums,
                  layer: int) -> SlotCosts:
    """Add the moments of nonzero-Fisher slots to ``sums`` (one pass).

    ``ia, ib = 1 / h_A, 1 / h_B``. The slots are grouped by their bin of
    ``s = log(h_A / h_B)`` (one sort of a small integer key), and each
    bin's moments are one ``(5 x n_b) @ (n_b x K)`` product. Slots with
    ``|s| > EXPANSION_MAX_LOG_RATIO`` are evaluated exactly instead; their
    summed ``e_j(w)`` is returned (``unshared`` is 0: the caller counts
    ``u_j``).
    """
    far_cost = SlotCosts(
        torch.zeros_like(w), torch.zeros_like(w), w.new_zeros(()))
    if not ha.numel():
        return far_cost
    width = sums.bin_width
    s = torch.mul(ha, ib).log_()
    bins = torch.mul(s, 1.0 / width).round_()
    lo, hi = (int(v) for v in torch.aminmax(bins))
    limit = EXPANSION_MAX_LOG_RATIO / width
    if lo < -limit or hi > limit:  # rare extreme ratios: exact, then drop
        far = bins.abs() > limit
        exact = _chunk_costs(ha[far], hb[far], va[far], vb[far],
                             None if k is None else k[far], d2[far],
                             num_samples, w, 0.0, 0.0)
        far_cost = SlotCosts(exact.shared_var, exact.shared_bias,
                             far_cost.unshared)
        near = ~far
        ha, hb, ia, ib, va, vb, d2, s, bins = (
            t[near] for t in (ha, hb, ia, ib, va, vb, d2, s, bins))
        k = None if k is None else k[near]
        if not ha.numel():
            return far_cost
        lo, hi = (int(v) for v in torch.aminmax(bins))
    # rows: x = s - bin centre, then the channels A_1..A_5
    r = torch.add(ia, ib).mul_(0.5 / num_samples)
    rows = [
        s.sub_(bins, alpha=width), va * r, vb * r,
        torch.zeros_like(r) if k is None else torch.mul(k, r).mul_(2.0),
        torch.mul(d2, ha).mul_(0.5),
        torch.mul(d2, hb).mul_(0.5)
    ]
    n = ha.numel()
    chans = torch.empty(5, n, dtype=_DTYPE)
    if hi > lo:
        key = bins.sub_(lo).to(torch.uint8 if hi - lo < 256 else torch.int32)
        counts = torch.bincount(key, minlength=hi - lo + 1).tolist()
        order = torch.sort(key).indices
        x = rows[0].index_select(0, order)
        for i, row in enumerate(rows[1:]):
            torch.index_select(row, 0, order, out=chans[i])
    else:
        counts = [n]
        x = rows[0]
        for i, row in enumerate(rows[1:]):
            chans[i].copy_(row)
    powers = torch.empty(sums.order, x.numel(), dtype=_DTYPE)
    powers[0].fill_(1.0)
    powers[1].copy_(x)
    for p in range(2, sums.order):
        torch.mul(powers[p - 1], x, out=powers[p])
    out_bins, out_moments = [], []
    start = 0
    for offset, count in enumerate(counts):
        if count:
            seg = slice(start, start + count)
            out_moments.append(chans[:, seg] @ powers[:, seg].T)
            out_bins.append(lo + offset)
            start += count
    sums.add(layer, out_bins, out_moments)
    return far_cost


def _expansion_chunk(
        stats: TaskPairStats, sl: slice, variant: str, mismatch: str,
        num_samples: float, w: Tensor, zero_a: float, zero_b: float,
        sums: _MomentSums) -> Tuple[SlotCosts, Tuple[int, int, int]]:
    """One chunk of the expansion pass.

    Returns:
        tuple: The chunk's exact cost parts (see :func:`_expansion_costs`)
        and its counts ``(zero_both, zero_one_side, negative_d2)``.
    """
    ha, hb = _chunk_part(stats.h_a, sl), _chunk_part(stats.h_b, sl)
    if not (bool((ha > zero_a).all()) and bool((hb > zero_b).all())):
        ha, hb, va, vb, k, d2 = _stats_mismatch(stats, sl, variant, mismatch,
                                                num_samples, zero_a, zero_b)
        cost = _expansion_costs(ha, hb, va, vb, k, d2, num_samples, w, zero_a,
                                zero_b, sums, stats.layer)
        za, zb = _zero_masks(ha, hb, zero_a, zero_b)
        return cost, (int((za & zb).sum()), int(
            (za ^ zb).sum()), int((d2 < 0).sum()))
    # fast path, every slot has nonzero Fisher on both sides
    va, vb, k = _chunk_scores(stats, sl, variant, ha, hb)
    ia, ib = ha.reciprocal(), hb.reciprocal()
    ua, ub = va * ia, vb * ib
    unshared = (ua.sum() + ub.sum()) / (2.0 * num_samples)
    if stats.delta2 is None:
        d2 = _chunk_part(stats.delta, sl).square()
    else:  # a copy: d2 is updated in place below
        d2 = stats.delta2.reshape(-1)[sl].to(_DTYPE, copy=True)
    if mismatch != 'raw':
        # n_j = (v_A / h_A^2 + v_B / h_B^2 - 2 k / (h_A h_B)) / N + sgd
        noise = ua.mul_(ia).addcmul_(ub, ib)
        if k is not None:
            noise.addcmul_(k * ia, ib, value=-2.0)
        d2.add_(noise, alpha=-1.0 / num_samples)
        if stats.sgd_noise is not None:
            d2.sub_(_chunk_part(stats.sgd_noise, sl))
    far = _expand_slots(ha, hb, ia, ib, va, vb, k, d2, num_samples, w, sums,
                        stats.layer)
    cost = SlotCosts(far.shared_var, far.shared_bias, unshared)
    return cost, (0, 0, int((d2 < 0).sum()))


# ------------------------------------------------------------ the grid
def _chunk_part(t: Optional[Tensor], sl: slice) -> Optional[Tensor]:
    """Float64 chunk ``sl`` of a flattened statistics tensor (or None)."""
    return None if t is None else t.reshape(-1)[sl].to(_DTYPE)


def _chunk_scores(stats: TaskPairStats, sl: slice, variant: str, ha: Tensor,
                  hb: Tensor) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
    """``(v_A, v_B, k)`` of a chunk: ``v := h`` where a score variance is
    absent, and ``(h_A, h_B, None)`` for the ``'paper'`` variant."""
    if variant == 'paper':
        return ha, hb, None
    va = ha if stats.v_a is None else _chunk_part(stats.v_a, sl)
    vb = hb if stats.v_b is None else _chunk_part(stats.v_b, sl)
    return va, vb, _chunk_part(stats.k, sl)


def _stats_mismatch(stats: TaskPairStats, sl: slice, variant: str,
                    mismatch: str, num_samples: float, zero_a: float,
                    zero_b: float) -> Tuple[Tensor, ...]:
    """Float64 chunk ``(h_a, h_b, v_a, v_b, k, d2)`` of one tensor."""

    ha, hb = _chunk_part(stats.h_a, sl), _chunk_part(stats.h_b, sl)
    va, vb, k = _chunk_scores(stats, sl, variant, ha, hb)
    raw = _chunk_part(stats.delta2, sl)
    if raw is None:
        raw = _chunk_part(stats.delta, sl).square()
    if mismatch != 'raw':
        raw = raw - mismatch_noise(ha, hb, num_samples, va, vb, k,
                                   _chunk_part(stats.sgd_noise, sl), zero_a,
                                   zero_b)
    return ha, hb, va, vb, k, raw


def _exact_chunk(stats: TaskPairStats, sl: slice, variant: str, mismatch: str,
                 num_samples: float, w: Tensor, zero_a: float,
                 zero_b: float) -> Tuple[SlotCosts, Tuple[int, int, int]]:
    """One chunk of the exact pass: costs and ``(zero_both,
    zero_one_side, negative_d2)`` counts."""
    ha, hb, va, vb, k, d2 = _stats_mismatch(stats, sl, variant, mismatch,
                                            num_samples, zero_a, zero_b)
    cost = _chunk_costs(ha, hb, va, vb, k, d2, num_samples, w, zero_a, zero_b)
    za, zb = _zero_masks(ha, hb, zero_a, zero_b)
    return cost, (int((za & zb).sum()), int(
        (za ^ zb).sum()), int((d2 < 0).sum()))


def _thresholds(stats: List[TaskPairStats], rel: float,
                given: Optional[Tuple[float, float]]) -> Tuple[float, float]:
    """Zero-Fisher thresholds of both tasks (errors on an all-zero task)."""
    if given is not None:
        if len(given) != 2 or any(not math.isfinite(float(x)) or x < 0
                                  for x in given):
            raise ValueError('zero_thresholds must be two finite numbers '
                             f'>= 0, got {given!r}')
        return float(given[0]), float(given[1])
    out = []
    for key, task in (('h_a', 'A (head)'), ('h_b', 'B (tail)')):
        thr = zero_fisher_threshold([getattr(s, key) for s in stats], rel)
        if thr is None:
            raise ValueError(f'{key}: the Fisher of task {task} is zero for '
                             f'every parameter ({len(stats)} tensors); the '
                             'stage-1 statistics are empty or broken')
        out.append(thr)
    return out[0], out[1]


def proxy_grid(stats: Iterable[TaskPairStats],
               num_layers: int,
               num_samples: float,
               w_grid: Optional[WGrid] = None,
               variant: str = 'full',
               mismatch: str = 'debiased',
               zero_rel: float = ZERO_FISHER_REL,
               zero_thresholds: Optional[Tuple[float, float]] = None,
               max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
               method: str = 'auto') -> ProxyGrid:
    """Evaluate ``P(C, w_A)`` for ``C = 0..L`` and every ``w_A`` of the grid.

    One pass over the tensors accumulates, per layer ``l`` and weight ``w``,
    the encoder variance ``TV[l, w]`` and bias ``TB[l, w]`` of its slots and
    their decoder variance ``TU[l]``; then ``P[0] = U`` and
    ``P[C] = U + cumsum_{l <= C}(TV + TB - TU)``. Cost
    ``O(#params * |W|)``, memory bounded by ``max_chunk_bytes``.

    Args:
        stats (Iterable[TaskPairStats]): One entry per parameter tensor
            (iterated twice: thresholds, then costs).
        num_layers (int): ``L``, the number of body layers.
        num_samples (float): ``N``, the training-set size both tasks use.
        w_grid (Tensor | Sequence[float], optional): Increasing ``w_A``
            values in ``[0, 1]``. Defaults to ``0, 0.01, ..., 1``.
        variant (str): ``'full'`` (default) or ``'paper'`` (``v = h, k = 0``).
        mismatch (str): ``'debiased'`` (default), ``'debiased-positive'``
            or ``'raw'`` (see the module docs).
        zero_rel (float): Relative zero-Fisher threshold (1e-8).
        zero_thresholds (tuple[float, float], optional): Absolute thresholds
            ``(task A, task B)``; skips the median pre-pass.
        max_chunk_bytes (int): Budget of the ``(chunk x W)`` temporaries.
        method (str): ``'exact'`` (every ``e_j(w)`` evaluated, ``O(#params
            * |W|)``), ``'expansion'`` (one ``O(#params)`` pass into
            per-layer moments, see the module docs) or ``'auto'`` (default:
            ``'expansion'`` from :data:`AUTO_EXPANSION_WORK` slot-weight
            pairs on, else ``'exact'``).

    Returns:
        ProxyGrid: The grid and its three components.

    Raises:
        ValueError: On invalid inputs; the message names the tensor and the
            field (see :func:`validate_stats`).
    """
    _check_scalars(num_layers, num_samples, variant, mismatch)
    if method not in METHODS:
        raise ValueError(f'method must be one of {METHODS}, got {method!r}')
    w = _check_w_grid(w_grid)
    stats = list(stats)
    if not stats:
        raise ValueError('proxy_grid got no parameter statistics')
    clock = [time.perf_counter()]
    timings = {}

    def lap(phase: str) -> None:
        now = time.perf_counter()
        timings[phase] = now - clock[0]
        clock[0] = now

    names = set()
    for s in stats:
        if not isinstance(s, TaskPairStats):
            raise TypeError('proxy_grid expects TaskPairStats entries, got '
                            f'{type(s).__name__}')
        if s.name in names:
            raise ValueError(f'{s.name}: parameter name given twice')
        names.add(s.name)
        validate_stats(s, num_layers)
    lap('validate')
    zero_a, zero_b = _thresholds(stats, zero_rel, zero_thresholds)
    lap('thresholds')

    rows = num_layers + 1
    t_var = torch.zeros(rows, w.numel(), dtype=_DTYPE)
    t_bias = torch.zeros_like(t_var)
    t_u = torch.zeros(rows, dtype=_DTYPE)
    diag = dict(
        num_params=0,
        num_tensors=len(stats),
        zero_both=0,
        zero_one_side=0,
        negative_d2=0,
        zero_thresholds=[zero_a, zero_b],
        params_per_layer=[0] * rows)
    if method == 'auto':
        work = sum(s.numel() for s in stats) * w.numel()
        method = 'expansion' if work >= AUTO_EXPANSION_WORK else 'exact'
    diag['method'] = method
    sums = None
    if method == 'expansion':
        sums = _MomentSums(EXPANSION_BIN_WIDTH, EXPANSION_ORDER)
        step = _expansion_chunk_size(max_chunk_bytes)
    else:
        step = _chunk_size(w.numel(), max_chunk_bytes)
    for s in stats:
        n = s.numel()
        for start in range(0, n, step):
            sl = slice(start, start + step)
            if sums is None:
                cost, counts = _exact_chunk(s, sl, variant, mismatch,
                                            num_samples, w, zero_a, zero_b)
            else:
                cost, counts = _expansion_chunk(s, sl, variant, mismatch,
                                                num_samples, w, zero_a, zero_b,
                                                sums)
            t_var[s.layer] += cost.shared_var
            t_bias[s.layer] += cost.shared_bias
            t_u[s.layer] += cost.unshared
            names = ('zero_both', 'zero_one_side', 'negative_d2')
            for key, count in zip(names, counts):
                diag[key] += count
        diag['num_params'] += n
        diag['params_per_layer'][s.layer] += n
        if not (torch.isfinite(t_var[s.layer]).all() and torch.isfinite(
                t_bias[s.layer]).all() and torch.isfinite(t_u[s.layer])):
            raise ValueError(f'{s.name}: the proxy overflowed (non-finite '
                             'cost); check for tiny nonzero Fisher values')
    lap('pass')
    if sums is not None:
        var, bias = sums.evaluate(rows, w)
        t_var += var
        t_bias += bias
        finite = torch.isfinite(var).all(1) & torch.isfinite(bias).all(1)
        if not finite.all():
            layer = int((~finite).nonzero()[0])
            raise ValueError(f'layer {layer}: the proxy overflowed '
                             '(non-finite cost); check for tiny nonzero '
                             'Fisher values')
    lap('evaluate')
    grid = _assemble_grid(t_var, t_bias, t_u, w, num_layers, num_samples,
                          variant, mismatch, diag)
    grid.argmin()
    lap('grid')
    grid.timings = timings
    return grid


def _assemble_grid(t_var: Tensor, t_bias: Tensor, t_u: Tensor, w: Tensor,
                   num_layers: int, num_samples: float, variant: str,
                   mismatch: str, diag: dict) -> ProxyGrid:
    """Cumulative sums over layers -> ``P`` and its components."""
    if mismatch == 'debiased-positive':
        t_bias = t_bias.clamp(min=0.0)
    total_u = t_u.sum()
    zero_row = torch.zeros(1, w.numel(), dtype=_DTYPE)
    enc_var = torch.cat([zero_row, t_var[1:].cumsum(0)])
    enc_bias = torch.cat([zero_row, t_bias[1:].cumsum(0)])
    shared_u = torch.cat([t_u.new_zeros(1), t_u[1:].cumsum(0)])
    dec_var = (total_u - shared_u)[:, None].expand_as(enc_var).clone()
    excess = t_var[1:] + t_bias[1:] - t_u[1:, None]
    proxy = torch.cat([zero_row, excess.cumsum(0)]) + total_u
    return ProxyGrid(proxy, enc_var, enc_bias, dec_var, w, num_layers,
                     float(num_samples), variant, mismatch, diag)


# ---------------------------------------------------- full-matrix form
def _as_square(name: str, m: Optional[Tensor], d: int,
               default: Optional[Tensor]) -> Tensor:
    """Validate a ``(d, d)`` matrix input (``None`` -> ``default``)."""
    if m is None:
        return default
    m = torch.as_tensor(m, dtype=_DTYPE)
    if m.shape != (d, d):
        raise ValueError(f'{name} has shape {tuple(m.shape)}, expected '
                         f'({d}, {d})')
    if not torch.isfinite(m).all():
        raise ValueError(f'{name} has non-finite entries')
    return m


def _solve(a: Tensor, b: Tensor, what: str) -> Tensor:
    """``a^-1 b`` with a clear error for a singular block."""
    try:
        return torch.linalg.solve(a, b)
    except RuntimeError as err:  # torch.linalg.LinAlgError
        raise ValueError(f'{what} is singular; the full-matrix proxy needs '
                         'invertible Hessian blocks') from err


def full_matrix_proxy(h_a: Tensor,
                      h_b: Tensor,
                      delta: Tensor,
                      layers: Sequence[int],
                      num_layers: int,
                      num_samples: float,
                      w_grid: Optional[WGrid] = None,
                      v_a: Optional[Tensor] = None,
                      v_b: Optional[Tensor] = None,
                      k: Optional[Tensor] = None,
                      variant: str = 'full',
                      mismatch: str = 'raw') -> ProxyGrid:
    """The matrix (encoder-block) form of PROXY_SPEC section 2.

    For small problems and as a reference for the diagonal proxy: for each
    depth ``C`` the encoder block is the parameters of layers ``1..C``::

        H_w = w_A H_A + w_B H_B,  S_w = w_A^2 V_A + w_B^2 V_B + w_A w_B (K+K^T)
        Venc = tr[(H_A + H_B) H_w^-1 S_w H_w^-1] / (2N)
        Benc = tr[M D2] / 2,  M = w_B^2 H_B H_w^-1 H_A H_w^-1 H_B
                                + w_A^2 H_A H_w^-1 H_B H_w^-1 H_A
        Vdec = sum_t tr[(H_t^dec)^-1 V_t^dec] / (2N)

    with ``D2 = delta delta^T`` (``'raw'``) or ``delta delta^T - Sigma``
    (``'debiased'``, ``Sigma = Cov(theta_A - theta_B)`` of the stage-1
    M-estimators, ``(H_A^-1 V_A H_A^-1 + H_B^-1 V_B H_B^-1 - H_A^-1 K H_B^-1
    - H_B^-1 K^T H_A^-1) / N`` restricted to the block). No zero-Fisher
    handling: every block must be invertible.

    Args:
        h_a, h_b (Tensor): ``(d, d)`` Hessians of both tasks.
        delta (Tensor): ``(d,)`` mismatch ``theta_A - theta_B``.
        layers (Sequence[int]): ``d`` layer ids in ``0..L``.
        num_layers (int): ``L``.
        num_samples (float): ``N``.
        w_grid (Tensor | Sequence[float], optional): Weights ``w_A``.
        v_a, v_b (Tensor, optional): ``(d, d)`` score covariances
            (default ``H``).
        k (Tensor, optional): ``(d, d)`` cross covariance ``E[g_A g_B^T]``
            (default 0).
        variant (str): ``'full'`` or ``'paper'`` (``V = H``, ``K = 0``).
        mismatch (str): ``'raw'`` (default here) or ``'debiased'``.

    Returns:
        ProxyGrid: Same layout as :func:`proxy_grid`.
    """
    _check_scalars(num_layers, num_samples, variant, mismatch)
    w = _check_w_grid(w_grid)
    h_a = torch.as_tensor(h_a, dtype=_DTYPE)
    if h_a.dim() != 2 or h_a.shape[0] != h_a.shape[1]:
        raise ValueError(f'h_a must be a square matrix, got shape '
                         f'{tuple(h_a.shape)}')
    d = h_a.shape[0]
    h_a = _as_square('h_a', h_a, d, None)
    h_b = _as_square('h_b', h_b, d, None)
    if variant == 'paper':
        v_a, v_b, k = h_a, h_b, torch.zeros_like(h_a)
    else:
        v_a = _as_square('v_a', v_a, d, h_a)
        v_b = _as_square('v_b', v_b, d, h_b)
        k = _as_square('k', k, d, torch.zeros_like(h_a))
    delta = torch.as_tensor(delta, dtype=_DTYPE).flatten()
    if delta.numel() != d or not torch.isfinite(delta).all():
        raise ValueError(f'delta must be {d} finite values, got '
                         f'{delta.numel()}')
    layer_ids = torch.as_tensor(list(layers), dtype=torch.long)
    if layer_ids.numel() != d:
        raise ValueError(f'layers must have {d} entries, got '
                         f'{layer_ids.numel()}')
    if ((layer_ids < 0) | (layer_ids > num_layers)).any():
        raise ValueError(f'layer ids must lie in 0..{num_layers}, got '
                         f'{sorted(set(layer_ids.tolist()))}')
    d2 = torch.outer(delta, delta)
    if mismatch == 'debiased':
        ia_k = _solve(h_a, k, 'H_A')
        cov = (
            _solve(h_a,
                   _solve(h_a, v_a, 'H_A').T, 'H_A').T +
            _solve(h_b,
                   _solve(h_b, v_b, 'H_B').T, 'H_B').T -
            _solve(h_b, ia_k.T, 'H_B').T -
            _solve(h_a,
                   _solve(h_b, k.T, 'H_B').T, 'H_A').T)
        d2 = d2 - cov / num_samples
    rows = num_layers + 1
    enc_var = torch.zeros(rows, w.numel(), dtype=_DTYPE)
    enc_bias = torch.zeros_like(enc_var)
    dec_var = torch.zeros_like(enc_var)
    for c in range(rows):
        enc = ((layer_ids >= 1) & (layer_ids <= c)).nonzero().flatten()
        dec = ((layer_ids == 0) | (layer_ids > c)).nonzero().flatten()
        dec_cost = 0.0
        for h, v, t in ((h_a, v_a, 'A'), (h_b, v_b, 'B')):
            if dec.numel():
                block = _solve(h[dec][:, dec], v[dec][:, dec],
                               f'H_{t} on the decoder block of C={c}')
                dec_cost += float(torch.trace(block))
        dec_var[c] = dec_cost / (2.0 * num_samples)
        if not enc.numel():
            continue
        sub = [m[enc][:, enc] for m in (h_a, h_b, v_a, v_b, k, d2)]
        for i, wa in enumerate(w.tolist()):
            var, bias = _encoder_block_cost(*sub, wa, num_samples, c)
            enc_var[c, i], enc_bias[c, i] = var, bias
    proxy = enc_var + enc_bias + dec_var
    return ProxyGrid(proxy, enc_var, enc_bias, dec_var, w, num_layers,
                     float(num_samples), variant, mismatch, dict(num_params=d))


def _encoder_block_cost(ha: Tensor, hb: Tensor, va: Tensor, vb: Tensor,
                        k: Tensor, d2: Tensor, wa: float, num_samples: float,
                        c: int) -> Tuple[float, float]:
    """Encoder variance and bias of one block at one weight."""
    wb = 1.0 - wa
    hw = wa * ha + wb * hb
    sw = wa**2 * va + wb**2 * vb + wa * wb * (k + k.T)
    what = f'H_w on the encoder block of C={c}, w_A={wa}'
    hw_inv_s = _solve(hw, sw, what)  # H_w^-1 S_w
    cov = _solve(hw, hw_inv_s.T, what).T  # H_w^-1 S_w H_w^-1
    var = float(torch.trace((ha + hb) @ cov)) / (2.0 * num_samples)
    a_inv = _solve(hw, ha, what)  # H_w^-1 H_A
    b_inv = _solve(hw, hb, what)  # H_w^-1 H_B
    m = wb**2 * hb @ a_inv @ b_inv + wa**2 * ha @ b_inv @ a_inv
    bias = 0.5 * float((m * d2.T).sum())  # tr(M D2)
    return var, bias
