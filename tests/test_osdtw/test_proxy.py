"""Tests of the OSDTW proxy: every case T1-T13 of proxy.md section 7
(docs/en/advanced_guides/proxy.md, section 7)."""
import math
import random
from typing import List, Optional, Sequence

import pytest
import torch

from mmpretrain_osdtw.osdtw.proxy import (DEFAULT_CHUNK_BYTES, TaskPairStats,
                                          debiased_delta2, make_w_grid,
                                          mismatch_noise, proxy_grid,
                                          zero_fisher_threshold)
from mmpretrain_osdtw.osdtw.proxy._reference import (full_matrix_proxy,
                                                     slot_costs)
from mmpretrain_osdtw.osdtw.proxy.costs import _chunk_size

torch.set_num_threads(1)
F64 = torch.float64


def _t(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=F64)


# Golden grid slots: (layer, h_A, h_B, Delta).
GOLDEN_SLOTS = [(1, 1., 1., 0.), (1, 2., .5, .1), (2, 3., 1., .4),
                (0, 1., 2., 0.)]
GOLDEN_K = (-.2, .1, -.5, 0.)


def _scalar_stats(slots,
                  v_fac: Optional[float] = None,
                  k: Optional[Sequence[float]] = None) -> List[TaskPairStats]:
    """One single-slot tensor per golden slot (``v_A = v_fac * h_A``)."""
    out = []
    for i, (layer, ha, hb, d) in enumerate(slots):
        out.append(
            TaskPairStats(
                f'p{i}',
                layer,
                _t(ha),
                _t(hb),
                v_a=None if v_fac is None else _t(v_fac * ha),
                v_b=None if v_fac is None else _t(hb),
                k=None if k is None else _t(k[i]),
                delta=_t(d)))
    return out


def _random_stats(gen: torch.Generator,
                  num_layers: int,
                  sizes=(3, 5),
                  full: bool = True,
                  delta_scale: float = 0.1,
                  with_head: bool = True) -> List[TaskPairStats]:
    """Random multi-element tensors, several per layer."""
    out = []
    layers = list(range(0 if with_head else 1, num_layers + 1))
    for layer in layers:
        for j, size in enumerate(sizes):
            shape = (size, 2)
            ha = torch.rand(shape, generator=gen, dtype=F64) * 3 + 0.1
            hb = torch.rand(shape, generator=gen, dtype=F64) * 3 + 0.1
            va = ha * (0.5 + torch.rand(shape, generator=gen, dtype=F64))
            vb = hb * (0.5 + torch.rand(shape, generator=gen, dtype=F64))
            # |k| <= sqrt(v_A v_B) (Cauchy-Schwarz)
            corr = torch.rand(shape, generator=gen, dtype=F64) * 1.6 - 0.8
            k = corr * (va * vb).sqrt()
            delta = torch.randn(shape, generator=gen, dtype=F64) * \
                delta_scale * layer
            out.append(
                TaskPairStats(
                    f'l{layer}.t{j}',
                    layer,
                    ha,
                    hb,
                    v_a=va if full else None,
                    v_b=vb if full else None,
                    k=k if full else None,
                    delta=delta))
    return out


def _brute_grid(stats: List[TaskPairStats],
                num_layers: int,
                n: float,
                w_grid: Sequence[float],
                variant: str = 'full',
                mismatch: str = 'raw') -> torch.Tensor:
    """Per-(C, w) evaluation straight from the formulas (proxy.md sec. 3)."""
    slots = []
    for s in stats:
        cols = [
            s.h_a, s.h_b, s.v_a if
            (s.v_a is not None and variant == 'full') else s.h_a, s.v_b if
            (s.v_b is not None and variant == 'full') else s.h_b, s.k if
            (s.k is not None and variant == 'full') else torch.zeros_like(
                s.h_a), s.delta
        ]
        for ha, hb, va, vb, k, d in zip(*[c.flatten().tolist() for c in cols]):
            d2 = d * d
            if mismatch == 'debiased':
                d2 -= (va / ha**2 + vb / hb**2 - 2 * k / (ha * hb)) / n
            slots.append((s.layer, ha, hb, va, vb, k, d2))
    grid = torch.zeros(num_layers + 1, len(w_grid), dtype=F64)
    for c in range(num_layers + 1):
        for i, wa in enumerate(w_grid):
            wb = 1 - wa
            total = 0.0
            for layer, ha, hb, va, vb, k, d2 in slots:
                if 1 <= layer <= c:
                    hw = wa * ha + wb * hb
                    sw = wa**2 * va + wb**2 * vb + 2 * wa * wb * k
                    total += (ha + hb) * sw / (2 * n * hw**2)
                    total += ha * hb * (wa**2 * ha + wb**2 * hb) * d2 / (2 *
                                                                         hw**2)
                else:
                    total += (va / ha + vb / hb) / (2 * n)
            grid[c, i] = total
    return grid


# ------------------------------------------------------------------ T1
def test_t1_closed_form():
    cost = slot_costs(_t(4.), _t(1.), None, None, None, _t(0.25), 10, [0.7])
    assert float(cost.shared_var[0]) == pytest.approx(0.053330, abs=1e-6)
    assert float(cost.shared_bias[0]) == pytest.approx(0.106660, abs=1e-6)
    assert float(cost.shared_var[0] + cost.shared_bias[0]) == \
        pytest.approx(0.159990, abs=1e-6)
    assert float(cost.unshared) == pytest.approx(0.1, abs=1e-12)
    cost = slot_costs(_t(1.), _t(1.), None, None, None, _t(0.), 1, [0.5])
    assert float(cost.shared_var[0] + cost.shared_bias[0]) == \
        pytest.approx(0.5, abs=1e-12)
    assert float(cost.unshared) == pytest.approx(1.0, abs=1e-12)
    assert float(cost.excess[0]) == pytest.approx(-0.5, abs=1e-12)


def test_golden_grid_paper_style():
    grid = proxy_grid(
        _scalar_stats(GOLDEN_SLOTS),
        2,
        100, [.3, .5, .7],
        variant='paper',
        mismatch='raw')
    expected = [[.04, .04, .04], [.034041, .032, .033266],
                [.101228, .087, .093683]]
    assert torch.allclose(
        grid.proxy, torch.tensor(expected, dtype=F64), atol=1e-6, rtol=0)
    assert grid.argmin() == (1, 0.5)


def test_golden_grid_full():
    stats = _scalar_stats(GOLDEN_SLOTS, v_fac=1.2, k=GOLDEN_K)
    grid = proxy_grid(stats, 2, 100, [.3, .5, .7], mismatch='raw')
    expected = [[.044, .044, .044], [.036461, .0347, .036644],
                [.10143, .0882, .096353]]
    assert torch.allclose(
        grid.proxy, torch.tensor(expected, dtype=F64), atol=1e-6, rtol=0)
    # the components add up to the proxy
    total = grid.enc_var + grid.enc_bias + grid.dec_var
    assert torch.allclose(total, grid.proxy, atol=1e-15, rtol=1e-12)
    assert torch.equal(grid.enc_var[0], torch.zeros(3, dtype=F64))
    assert torch.allclose(grid.dec_var[0], torch.full((3, ), .044, dtype=F64))


# ------------------------------------------------------------------ T2
def test_t2_swap_mirrors_and_symmetric_tasks():
    gen = torch.Generator().manual_seed(2)
    stats = _random_stats(gen, 3)
    w = make_w_grid(0.05)
    grid = proxy_grid(stats, 3, 500, w)
    swapped = [
        TaskPairStats(
            s.name,
            s.layer,
            s.h_b,
            s.h_a,
            v_a=s.v_b,
            v_b=s.v_a,
            k=s.k,
            delta=-s.delta) for s in stats
    ]
    mirrored = proxy_grid(swapped, 3, 500, w)
    assert torch.allclose(
        mirrored.proxy, grid.proxy.flip(1), rtol=1e-12, atol=0)
    sym = [
        TaskPairStats(
            s.name,
            s.layer,
            s.h_a,
            s.h_a,
            v_a=s.v_a,
            v_b=s.v_a,
            k=s.k,
            delta=s.delta) for s in stats
    ]
    sym_grid = proxy_grid(sym, 3, 500, w)
    assert torch.allclose(
        sym_grid.proxy, sym_grid.proxy.flip(1), rtol=1e-12, atol=0)


# ------------------------------------------------------------------ T3
def test_t3_paper_style_always_half():
    rng = random.Random(3)
    gen = torch.Generator().manual_seed(3)
    w = make_w_grid(0.05)
    for _ in range(200):
        num_layers = rng.randint(1, 4)
        n = 10**rng.uniform(1, 4)
        stats = []
        for layer in range(num_layers + 1):
            for j in range(rng.randint(1, 3)):
                shape = (rng.randint(1, 4), )
                ha = torch.exp(torch.randn(shape, generator=gen) * 2)
                hb = torch.exp(torch.randn(shape, generator=gen) * 2)
                delta = torch.randn(shape, generator=gen) * \
                    10**rng.uniform(-3, 0)
                stats.append(
                    TaskPairStats(f'{layer}.{j}', layer, ha, hb, delta=delta))
        grid = proxy_grid(
            stats, num_layers, n, w, variant='paper', mismatch='raw')
        best = grid.best_w_per_depth()
        for c in range(1, num_layers + 1):
            assert best[c][0] == 0.5, (c, best)


# ------------------------------------------------------------------ T4
def test_t4_zero_mismatch_shares_everything():
    gen = torch.Generator().manual_seed(4)
    stats = _random_stats(gen, 4, full=False, delta_scale=0.0)
    n = 250
    grid = proxy_grid(
        stats, 4, n, make_w_grid(0.1), variant='paper', mismatch='raw')
    assert grid.argmin() == (4, 0.5)
    half = grid.proxy[:, grid.w_index(0.5)]
    assert (half[1:] < half[:-1]).all()
    d_head = sum(s.numel() for s in stats if s.layer == 0)
    d_body = sum(s.numel() for s in stats if s.layer > 0)
    assert float(half[-1]) == pytest.approx(
        d_head / n + d_body / (2 * n), rel=1e-12)


# ------------------------------------------------------------------ T5
def test_t5_huge_mismatch_shares_nothing():
    gen = torch.Generator().manual_seed(5)
    for variant in ('paper', 'full'):
        stats = _random_stats(
            gen, 3, full=variant == 'full', delta_scale=100.0)
        grid = proxy_grid(
            stats, 3, 1000, make_w_grid(0.1), variant=variant, mismatch='raw')
        assert grid.argmin()[0] == 0


# ------------------------------------------------------------------ T6
def test_t6_single_parameter_layer_threshold():
    n = 50
    slots = [(1, 2., 3., 0.05), (2, 0.7, 4., 0.3), (3, 1.5, 1.5, 0.1),
             (0, 1., 1., 0.)]
    grid = proxy_grid(
        _scalar_stats(slots),
        3,
        n, [0.25, 0.5, 0.75],
        variant='paper',
        mismatch='raw')
    half = grid.proxy[:, 1]
    for layer, ha, hb, d in slots[:3]:
        rho = n * ha * hb * d**2 / (ha + hb)
        change = float(half[layer] - half[layer - 1])
        assert change == pytest.approx((rho - 1) / (2 * n), rel=1e-10)
    # rho < 1 iff the layer pays off
    assert float(half[1] - half[0]) < 0 and float(half[2] - half[1]) > 0


# ------------------------------------------------------------------ T7
@pytest.mark.parametrize('mismatch', ['raw', 'debiased'])
def test_t7_fisher_scale_equals_sample_size(mismatch):
    gen = torch.Generator().manual_seed(7)
    stats = _random_stats(gen, 3)
    c, n = 3.7, 400
    scaled = [
        TaskPairStats(
            s.name,
            s.layer,
            c * s.h_a,
            c * s.h_b,
            v_a=c * s.v_a,
            v_b=c * s.v_b,
            k=c * s.k,
            delta=s.delta) for s in stats
    ]
    w = make_w_grid(0.1)
    lhs = proxy_grid(scaled, 3, n, w, mismatch=mismatch).proxy
    rhs = proxy_grid(stats, 3, c * n, w, mismatch=mismatch).proxy
    assert torch.allclose(lhs, c * rhs, rtol=1e-10, atol=0)


# ------------------------------------------------------------------ T8
def test_t8_zero_fisher_finite_and_neutral():
    gen = torch.Generator().manual_seed(8)
    base = _random_stats(gen, 2)
    w = make_w_grid(0.25)  # includes w_A = 0 and 1
    ref = proxy_grid(base, 2, 300, w)
    zeros = torch.zeros(4, dtype=F64)
    extra = [
        # both sides zero: costs nothing
        TaskPairStats(
            'both_zero',
            1,
            zeros,
            zeros,
            v_a=zeros,
            v_b=zeros,
            k=zeros,
            delta=torch.ones(4, dtype=F64)),
        # one side zero (also one side below 1e-8 * median): neutral
        TaskPairStats(
            'one_side',
            2,
            _t(0., 0., 1e-14, 2.),
            _t(1., 3., 0.5, 0.),
            v_a=_t(0.3, 0., 1e-14, 1.),
            v_b=_t(2., 2., 1., 0.),
            k=_t(0.1, -0.2, 0., 0.3),
            delta=_t(5., -5., 2., 1.)),
    ]
    grid = proxy_grid(base + extra, 2, 300, w)
    for part in ('proxy', 'enc_var', 'enc_bias', 'dec_var'):
        assert torch.isfinite(getattr(grid, part)).all()
    # one-sided slots shift every row by the same constant u, the
    # both-zero slots by nothing: every row moves by sum u (w-independent)
    u = (2. / 1. + 2. / 3. + 1. / 0.5 + 1. / 2.) / (2 * 300)
    assert torch.allclose(
        grid.proxy - ref.proxy,
        torch.full_like(ref.proxy, u),
        rtol=0,
        atol=1e-14)
    assert grid.argmin() == ref.argmin()
    assert grid.diagnostics['zero_both'] == 4
    assert grid.diagnostics['zero_one_side'] == 4
    # the neutral part counts as encoder variance once shared
    assert torch.allclose(
        grid.enc_var[2] - ref.enc_var[2],
        torch.full_like(w, u),
        atol=1e-14,
        rtol=0)


def test_zero_fisher_threshold_exact_and_histogram():
    values = [torch.tensor([0., 1., 2., 3.]), torch.tensor([0., 5.])]
    assert zero_fisher_threshold(values, rel=1.0) == 2.0  # lower median
    assert zero_fisher_threshold([torch.zeros(3)]) is None
    gen = torch.Generator().manual_seed(1)
    big = [torch.exp(torch.randn(5000, generator=gen, dtype=F64) * 3)]
    exact = zero_fisher_threshold(big, rel=1.0)
    approx = zero_fisher_threshold(big, rel=1.0, exact_limit=10)
    assert approx == pytest.approx(exact, rel=0.01)


# ------------------------------------------------------------------ T9
def test_t9_optimal_depth_non_increasing_in_n():
    gen = torch.Generator().manual_seed(9)
    stats = _random_stats(gen, 5, sizes=(4, ), full=True, delta_scale=0.02)
    depths = []
    for n in (10, 30, 100, 300, 1e3, 3e3, 1e4, 3e4, 1e5):
        grid = proxy_grid(stats, 5, n, make_w_grid(0.1), mismatch='raw')
        depths.append(grid.argmin()[0])
    assert all(a >= b for a, b in zip(depths, depths[1:])), depths
    assert depths[0] == 5 and depths[-1] == 0, depths


# ----------------------------------------------------------------- T10
@pytest.mark.parametrize('variant,mismatch', [('full', 'raw'),
                                              ('full', 'debiased'),
                                              ('paper', 'raw'),
                                              ('paper', 'debiased')])
def test_t10_cumsum_equals_brute_force(variant, mismatch):
    gen = torch.Generator().manual_seed(10)
    stats = _random_stats(gen, 3, sizes=(3, 7), delta_scale=0.05)
    w = make_w_grid(0.1)
    ref = _brute_grid(stats, 3, 200, w.tolist(), variant, mismatch)
    for chunk_bytes in (DEFAULT_CHUNK_BYTES, 1, 3 * 16 * 11):
        grid = proxy_grid(
            stats,
            3,
            200,
            w,
            variant=variant,
            mismatch=mismatch,
            max_chunk_bytes=chunk_bytes)
        assert torch.allclose(grid.proxy, ref, rtol=1e-12, atol=1e-15)
        total = grid.enc_var + grid.enc_bias + grid.dec_var
        assert torch.allclose(total, grid.proxy, rtol=1e-12, atol=1e-15)


def test_chunk_size_respects_budget():
    for num_w in (1, 9, 101, 1001):
        size = _chunk_size(num_w, DEFAULT_CHUNK_BYTES)
        assert 2 * 8 * num_w * size <= DEFAULT_CHUNK_BYTES
    assert _chunk_size(101, 1) == 1


# ----------------------------------------------------------------- T11
@pytest.mark.parametrize('a,b,k', [(3., 1., -0.5), (2., 5., 0.7),
                                   (1., 1., -0.9)])
def test_t11_cross_term_moves_the_weight(a, b, k):
    expected = b * (a - k) / (b * (a - k) + a * (b - k))
    stats = [
        TaskPairStats(
            'x', 1, _t(a), _t(b), v_a=_t(a), v_b=_t(b), k=_t(k), delta=_t(0.)),
        TaskPairStats('head', 0, _t(1.), _t(1.), delta=_t(0.)),
    ]
    w = make_w_grid(0.0025)
    grid = proxy_grid(stats, 1, 100, w, mismatch='raw')
    best_w = grid.best_w_per_depth()[1][0]
    assert abs(best_w - expected) <= 0.00125 + 1e-12
    if (a, b, k) == (3., 1., -0.5):
        assert expected == 0.4375 and best_w == 0.4375


# ----------------------------------------------------------------- T12
@pytest.mark.parametrize('variant,mismatch', [('full', 'raw'),
                                              ('full', 'debiased'),
                                              ('paper', 'raw')])
def test_t12_full_matrix_equals_diagonal(variant, mismatch):
    gen = torch.Generator().manual_seed(12)
    stats = _random_stats(gen, 3, sizes=(2, ), delta_scale=0.05)

    def cat(key):
        return torch.cat([getattr(s, key).flatten() for s in stats])

    layers = [s.layer for s in stats for _ in range(s.numel())]
    w = make_w_grid(0.1)
    diag = proxy_grid(
        stats,
        3,
        150,
        w,
        variant=variant,
        mismatch=mismatch,
        zero_thresholds=(0., 0.))
    full = full_matrix_proxy(
        torch.diag(cat('h_a')),
        torch.diag(cat('h_b')),
        cat('delta'),
        layers,
        3,
        150,
        w,
        v_a=torch.diag(cat('v_a')),
        v_b=torch.diag(cat('v_b')),
        k=torch.diag(cat('k')),
        variant=variant,
        mismatch=mismatch)
    for part in ('proxy', 'enc_var', 'enc_bias', 'dec_var'):
        assert torch.allclose(
            getattr(full, part), getattr(diag, part), rtol=1e-10,
            atol=1e-14), part


def test_full_matrix_singular_block_errors():
    h = torch.diag(_t(1., 0.))
    with pytest.raises(ValueError, match='singular'):
        full_matrix_proxy(h, h, _t(0., 0.), [1, 0], 1, 10, [0.5])


# ----------------------------------------------------------------- T13
def test_t13_debiased_delta2_is_unbiased():
    gen = torch.Generator().manual_seed(13)
    n, draws = 50, 200_000
    ha, hb = _t(2., 0.5, 1.), _t(1., 3., 1.)
    va, vb = _t(2.5, 0.4, 1.2), _t(1.5, 2., 0.8)
    k = _t(-0.6, 0.3, 0.)
    true_delta = _t(0.2, 0., -0.05)
    # stage-1 errors: Cov(e_A, e_B) from the sandwich with the cross term
    var_a, var_b = va / (ha**2 * n), vb / (hb**2 * n)
    cov = k / (ha * hb * n)
    z1 = torch.randn(draws, 3, generator=gen, dtype=F64)
    z2 = torch.randn(draws, 3, generator=gen, dtype=F64)
    e_a = z1 * var_a.sqrt()
    e_b = cov / var_a * e_a + z2 * (var_b - cov**2 / var_a).sqrt()
    delta_hat = true_delta + e_a - e_b
    d2 = debiased_delta2(delta_hat, ha, hb, n, va, vb, k)
    err = d2.std(0) / math.sqrt(draws)
    assert ((d2.mean(0) - true_delta**2).abs() < 4 * err).all()
    raw_bias = (delta_hat**2).mean(0) - true_delta**2
    assert (raw_bias > 10 * err).all()  # the raw plug-in is biased upward
    # paper-style noise is (1/h_A + 1/h_B) / N; sgd noise adds
    paper = mismatch_noise(ha, hb, n)
    assert torch.allclose(paper, (1 / ha + 1 / hb) / n)
    extra = mismatch_noise(ha, hb, n, sgd_noise=_t(0.1, 0.2, 0.3))
    assert torch.allclose(extra - paper, _t(0.1, 0.2, 0.3))
    # zero-Fisher slots get no noise correction
    assert float(mismatch_noise(_t(0.), _t(1.), n)[0]) == 0.0


@pytest.mark.parametrize('mismatch', ['raw', 'debiased'])
def test_t13_delta2_path_equals_delta_path(mismatch):
    gen = torch.Generator().manual_seed(131)
    stats = _random_stats(gen, 3, delta_scale=0.03)
    as_d2 = [
        TaskPairStats(
            s.name,
            s.layer,
            s.h_a,
            s.h_b,
            v_a=s.v_a,
            v_b=s.v_b,
            k=s.k,
            delta2=s.delta**2) for s in stats
    ]
    w = make_w_grid(0.1)
    a = proxy_grid(stats, 3, 80, w, mismatch=mismatch)
    b = proxy_grid(as_d2, 3, 80, w, mismatch=mismatch)
    assert torch.allclose(a.proxy, b.proxy, rtol=1e-13, atol=0)
    if mismatch == 'debiased':
        pre = [
            TaskPairStats(
                s.name,
                s.layer,
                s.h_a,
                s.h_b,
                v_a=s.v_a,
                v_b=s.v_b,
                k=s.k,
                delta2=debiased_delta2(s.delta, s.h_a, s.h_b, 80, s.v_a, s.v_b,
                                       s.k)) for s in stats
        ]
        c = proxy_grid(pre, 3, 80, w, mismatch='raw')
        assert torch.allclose(a.proxy, c.proxy, rtol=1e-13, atol=0)
        assert a.diagnostics['negative_d2'] > 0  # not floored


def test_debiased_zero_mismatch_negative_bias():
    gen = torch.Generator().manual_seed(14)
    stats = _random_stats(gen, 2, delta_scale=0.0)
    grid = proxy_grid(stats, 2, 100, make_w_grid(0.1))
    assert (grid.enc_bias[1:] < 0).all()
    assert torch.isfinite(grid.proxy).all()


# ------------------------------------------------------------ argmin ties
def test_argmin_tie_breaking():
    stats = [TaskPairStats('h', 0, _t(1.), _t(1.), delta=_t(0.))]
    grid = proxy_grid(stats, 3, 10, [0.2, 0.4, 0.6, 0.8], mismatch='raw')
    # flat grid: larger C first, then closest to 0.5, then smaller w
    assert grid.argmin() == (3, 0.4)
    assert [b[0] for b in grid.best_w_per_depth()] == [0.4] * 4


def test_to_dict_round_numbers():
    grid = proxy_grid(
        _scalar_stats(GOLDEN_SLOTS),
        2,
        100,
        make_w_grid(0.1),
        variant='paper',
        mismatch='raw')
    out = grid.to_dict()
    assert out['chosen']['C'] == 1 and out['chosen']['w_A'] == 0.5
    assert out['chosen']['w_B'] == 0.5
    assert len(out['grid']['proxy']) == 3 and len(out['w_grid']) == 11
    assert make_w_grid(0.1).tolist()[7] == 0.7


# ------------------------------------------------------------- validation
def _one(**overrides) -> TaskPairStats:
    base = dict(
        name='blocks.0.w',
        layer=1,
        h_a=torch.ones(3),
        h_b=torch.ones(3),
        v_a=torch.ones(3),
        v_b=torch.ones(3),
        k=torch.zeros(3),
        delta=torch.zeros(3))
    base.update(overrides)
    return TaskPairStats(**base)


@pytest.mark.parametrize('overrides,match', [
    (dict(v_a=torch.tensor([1., float('nan'), 1.])), 'v_a has non-finite'),
    (dict(delta=torch.tensor([1., float('inf'), 1.])), 'delta has non-finite'),
    (dict(h_b=torch.tensor([1., -1., 1.])), 'h_b has negative'),
    (dict(v_b=torch.tensor([1., -1., 1.])), 'v_b has negative'),
    (dict(k=torch.zeros(4)), r'k has shape \(4,\)'),
    (dict(layer=5), r'layer id 5 is outside 0\.\.2'),
    (dict(layer=-1), r'layer id -1 is outside 0\.\.2'),
    (dict(delta2=torch.zeros(3)), 'give exactly one of delta and delta2'),
    (dict(delta=None), 'give exactly one of delta and delta2'),
])
def test_invalid_stats(overrides, match):
    # the message names the offending tensor, not its neighbour
    with pytest.raises(ValueError, match=r'^blocks\.1\.w: ' + match):
        proxy_grid([_one(), _one(name='blocks.1.w', **overrides)], 2, 10,
                   [0.5])


@pytest.mark.parametrize('kwargs,match', [
    (dict(w_grid=[0.5, 1.2]), r'\[0, 1\]'),
    (dict(w_grid=[-0.1]), r'\[0, 1\]'),
    (dict(w_grid=[0.6, 0.5]), 'increasing'),
    (dict(num_samples=0), 'num_samples'),
    (dict(num_samples=-5.0), 'num_samples'),
    (dict(num_layers=0), 'num_layers'),
    (dict(variant='diag'), 'variant'),
    (dict(mismatch='floored'), 'mismatch'),
])
def test_invalid_arguments(kwargs, match):
    args = dict(num_layers=2, num_samples=10, w_grid=[0.5])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        proxy_grid([_one()], **args)


def test_all_zero_fisher_and_duplicates():
    zero = torch.zeros(3)
    with pytest.raises(ValueError, match='h_a: the Fisher of task A'):
        proxy_grid([_one(h_a=zero)], 2, 10, [0.5])
    with pytest.raises(ValueError, match='h_b: the Fisher of task B'):
        proxy_grid([_one(h_b=zero)], 2, 10, [0.5])
    with pytest.raises(ValueError, match='blocks.0.w: parameter name given'):
        proxy_grid([_one(), _one()], 2, 10, [0.5])
    with pytest.raises(ValueError, match='does not divide'):
        make_w_grid(0.3)


def test_debiased_positive_floors_each_layers_bias_at_zero():
    # Layer 1: delta^2 far below its noise (negative debiased bias sum);
    # layer 2: delta^2 far above it (positive sum).
    stats = [
        TaskPairStats(
            'l1',
            1,
            h_a=torch.tensor([2., 3.]),
            h_b=torch.tensor([1., 1.]),
            delta=torch.tensor([0.001, 0.0])),
        TaskPairStats(
            'l2',
            2,
            h_a=torch.tensor([2.]),
            h_b=torch.tensor([1.]),
            delta=torch.tensor([3.0])),
        TaskPairStats(
            'head',
            0,
            h_a=torch.tensor([1.]),
            h_b=torch.tensor([2.]),
            delta=torch.tensor([0.0])),
    ]
    w = [0.1, 0.3, 0.5, 0.7, 0.9]
    unbiased = proxy_grid(stats, 2, 50, w_grid=w, mismatch='debiased')
    positive = proxy_grid(stats, 2, 50, w_grid=w, mismatch='debiased-positive')
    layer1_bias = unbiased.enc_bias[1]
    layer2_bias = unbiased.enc_bias[2] - unbiased.enc_bias[1]
    assert (layer1_bias < 0).all() and (layer2_bias > 0).all()
    torch.testing.assert_close(positive.enc_bias[1],
                               torch.zeros_like(layer1_bias))
    torch.testing.assert_close(positive.enc_bias[2], layer2_bias)
    torch.testing.assert_close(positive.enc_var, unbiased.enc_var)
    torch.testing.assert_close(
        positive.proxy,
        positive.enc_var + positive.enc_bias + positive.dec_var)
    # at C = 1 the floored layer weighs like a zero mismatch
    no_mismatch = [
        TaskPairStats(
            s.name,
            s.layer,
            h_a=s.h_a,
            h_b=s.h_b,
            delta2=torch.zeros_like(s.h_a)) for s in stats
    ]
    zero = proxy_grid(no_mismatch, 2, 50, w_grid=w, mismatch='raw')
    torch.testing.assert_close(positive.proxy[1], zero.proxy[1])
