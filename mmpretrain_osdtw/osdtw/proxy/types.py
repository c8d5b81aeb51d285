"""The proxy's data types: per-tensor statistics, slot costs and the grid.

See :mod:`mmpretrain_osdtw.osdtw.proxy` for the formulas. ``ProxyGrid``
also holds the tie rule of the argmin (:data:`TIE_RTOL`).
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

VARIANTS = ('full', 'paper')
MISMATCHES = ('debiased', 'debiased-positive', 'raw')
#: Relative tolerance under which two grid cells count as tied.
TIE_RTOL = 1e-12

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
