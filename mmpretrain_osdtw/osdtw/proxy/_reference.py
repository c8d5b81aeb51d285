"""Reference forms of the proxy, kept as test oracles (not public API).

- :func:`full_matrix_proxy`: the matrix (encoder-block) form of proxy.md
  section 2, for small problems; the diagonal proxy must agree with it on
  diagonal inputs.
- :func:`slot_costs`: the exact summed costs of a set of slots for every
  ``w_A``, without the grid driver.

Not exported by :mod:`mmpretrain_osdtw.osdtw.proxy`; the tests import them
from here.
"""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from .costs import DEFAULT_CHUNK_BYTES, _chunk_costs, _chunk_size
from .types import _DTYPE, ProxyGrid, SlotCosts, WGrid
from .validation import _check_scalars, _check_w_grid


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
    """The matrix (encoder-block) form of proxy.md section 2.

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
