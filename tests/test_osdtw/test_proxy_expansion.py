"""Tests of the proxy's fast paths: the series expansion (``method=``),
the exact selection median and the one-pass input checks."""
import math

import pytest
import torch

from mmpretrain_osdtw.osdtw.proxy import (DEFAULT_CHUNK_BYTES, TaskPairStats,
                                          kth_positive, make_w_grid,
                                          proxy_grid, zero_fisher_threshold)
from mmpretrain_osdtw.osdtw.proxy import grid as grid_mod
from mmpretrain_osdtw.osdtw.proxy import thresholds as thresholds_mod
from mmpretrain_osdtw.osdtw.proxy.expansion import (EXPANSION_BIN_WIDTH,
                                                    EXPANSION_ORDER,
                                                    _kernel_taylor)

torch.set_num_threads(1)
F64 = torch.float64


def _stats(gen: torch.Generator,
           num_layers: int = 3,
           size: int = 400,
           spread: float = 2.0,
           full: bool = True,
           dtype=torch.float32):
    """Random stats with log-ratios ``log(h_A / h_B)`` over a wide range."""
    out = []
    for layer in range(num_layers + 1):
        for j in range(2):
            ha = torch.exp(torch.randn(size, generator=gen) * spread)
            hb = torch.exp(torch.randn(size, generator=gen) * spread)
            va = ha * (0.5 + torch.rand(size, generator=gen))
            vb = hb * (0.5 + torch.rand(size, generator=gen))
            corr = torch.rand(size, generator=gen) * 1.6 - 0.8
            k = corr * (va * vb).sqrt()
            delta = torch.randn(
                size, generator=gen) * 0.02 / (ha * hb).pow(0.25)
            out.append(
                TaskPairStats(
                    f'l{layer}.t{j}',
                    layer,
                    ha.to(dtype),
                    hb.to(dtype),
                    v_a=va.to(dtype) if full else None,
                    v_b=vb.to(dtype) if full else None,
                    k=k.to(dtype) if full else None,
                    delta=delta.to(dtype)))
    return out


def _close(a, b, rtol=1e-12):
    """Every component agrees to ``rtol`` of the grid's magnitude."""
    for part in ('proxy', 'enc_var', 'enc_bias', 'dec_var'):
        x, y = getattr(a, part), getattr(b, part)
        scale = y.abs().max().clamp_min(1e-300)
        assert float((x - y).abs().max() / scale) < rtol, part


@pytest.mark.parametrize('variant,mismatch', [('full', 'debiased'),
                                              ('full', 'raw'),
                                              ('full', 'debiased-positive'),
                                              ('paper', 'debiased'),
                                              ('paper', 'raw')])
def test_expansion_equals_exact(variant, mismatch):
    gen = torch.Generator().manual_seed(1)
    stats = _stats(gen)
    w = make_w_grid(0.01)
    kwargs = dict(variant=variant, mismatch=mismatch)
    exact = proxy_grid(stats, 3, 500, w, method='exact', **kwargs)
    fast = proxy_grid(stats, 3, 500, w, method='expansion', **kwargs)
    _close(fast, exact)
    assert fast.argmin() == exact.argmin()
    assert fast.diagnostics['method'] == 'expansion'
    assert exact.diagnostics['method'] == 'exact'
    for key in ('zero_both', 'zero_one_side', 'negative_d2', 'num_params'):
        assert fast.diagnostics[key] == exact.diagnostics[key], key


def test_expansion_small_chunks_and_float64_inputs():
    gen = torch.Generator().manual_seed(2)
    stats = _stats(gen, size=257, dtype=F64)
    stats[0].delta2, stats[0].delta = stats[0].delta.square(), None
    copies = [{k: v.clone() for k, v in s.tensors().items()} for s in stats]
    w = make_w_grid(0.05)
    exact = proxy_grid(stats, 3, 80, w, method='exact')
    for chunk_bytes in (1, 40 * 8 * 7, DEFAULT_CHUNK_BYTES):
        fast = proxy_grid(
            stats, 3, 80, w, method='expansion', max_chunk_bytes=chunk_bytes)
        _close(fast, exact)
    # the inputs are left as they were (float64 chunks are views)
    for s, saved in zip(stats, copies):
        for key, value in saved.items():
            assert torch.equal(getattr(s, key), value), (s.name, key)


def test_expansion_zero_fisher_and_extreme_ratios():
    gen = torch.Generator().manual_seed(3)
    base = _stats(gen, num_layers=2, size=50, dtype=F64)
    zeros = torch.zeros(4, dtype=F64)
    t = lambda *v: torch.tensor(v, dtype=F64)  # noqa: E731
    extra = [
        TaskPairStats(
            'both_zero',
            1,
            zeros,
            zeros,
            v_a=zeros,
            v_b=zeros,
            k=zeros,
            delta=torch.ones(4, dtype=F64)),
        TaskPairStats(
            'one_side',
            2,
            t(0., 0., 1e-30, 2.),
            t(1., 3., 0.5, 0.),
            v_a=t(0.3, 0., 1e-30, 1.),
            v_b=t(2., 2., 1., 0.),
            k=t(0.1, -0.2, 0., 0.3),
            delta=t(5., -5., 2., 1.)),
        # |log(h_A / h_B)| > 200: evaluated exactly inside the expansion
        TaskPairStats(
            'extreme',
            1,
            t(1e100, 1e-100, 1.0),
            t(1e-100, 1e100, 1.0),
            v_a=t(1e100, 1e-100, 1.0),
            v_b=t(1e-100, 1e100, 1.0),
            k=t(0., 0., 0.1),
            delta=t(1e-51, 1e-51, 0.01)),
    ]
    w = make_w_grid(0.25)  # includes w_A = 0 and 1
    exact = proxy_grid(base + extra, 2, 300, w, method='exact')
    fast = proxy_grid(base + extra, 2, 300, w, method='expansion')
    _close(fast, exact)
    assert fast.diagnostics['zero_both'] == exact.diagnostics['zero_both']
    assert fast.diagnostics['zero_one_side'] == \
        exact.diagnostics['zero_one_side']


def test_auto_method_and_timings(monkeypatch):
    gen = torch.Generator().manual_seed(4)
    stats = _stats(gen, num_layers=1, size=10)
    grid = proxy_grid(stats, 1, 50, make_w_grid(0.1))
    assert grid.diagnostics['method'] == 'exact'
    assert set(grid.timings) == {
        'validate', 'thresholds', 'pass', 'evaluate', 'grid'
    }
    assert 'timings' not in grid.to_dict()
    monkeypatch.setattr(grid_mod, 'AUTO_EXPANSION_WORK', 1)
    grid = proxy_grid(stats, 1, 50, make_w_grid(0.1))
    assert grid.diagnostics['method'] == 'expansion'
    with pytest.raises(ValueError, match='method must be one of'):
        proxy_grid(stats, 1, 50, [0.5], method='fast')


def test_kernel_taylor_coefficients():
    w = make_w_grid(0.1)
    centres = torch.tensor([-30.0, -2.25, 0.0, 0.75, 12.5], dtype=F64)
    coef = _kernel_taylor(centres, w, EXPANSION_ORDER)
    half = EXPANSION_BIN_WIDTH / 2
    for x in (-half, -0.03, 0.0, 0.1, half):
        powers = x**torch.arange(coef.shape[-1], dtype=F64)
        approx = (coef * powers).sum(-1)
        s = centres[:, None] + x
        exact = (w * torch.exp(s / 2) + (1 - w) * torch.exp(-s / 2))**-2
        assert float(((approx - exact) / exact).abs().max()) < 1e-13


def test_kth_positive_exact_on_large_input(monkeypatch):
    gen = torch.Generator().manual_seed(5)
    values = torch.exp(torch.randn(300_000, generator=gen) * 4)
    values[::7] = 0.0  # zeros are skipped
    values[1::11] = 3.0  # ties
    parts = [values[:1000], values[1000:250_000], values[250_000:]]
    positive = values[values > 0].sort().values
    monkeypatch.setattr(thresholds_mod, 'SELECT_DIRECT_LIMIT', 1000)
    for rank in (1, 17, positive.numel() // 2, positive.numel()):
        assert kth_positive(parts, rank) == float(positive[rank - 1])
    count = positive.numel()
    median = float(positive[(count + 1) // 2 - 1])
    assert zero_fisher_threshold(parts, rel=1.0) == median
    # a sample too small to bracket: direct selection, same answer
    monkeypatch.setattr(thresholds_mod, 'SELECT_SAMPLE', 8)
    assert kth_positive(parts, 5) == float(positive[4])
    with pytest.raises(ValueError, match='rank 0 is outside'):
        kth_positive(parts, 0)


def test_kth_positive_bracket_miss_falls_back(monkeypatch):
    values = torch.arange(1, 5001, dtype=torch.float32)
    monkeypatch.setattr(thresholds_mod, 'SELECT_DIRECT_LIMIT', 10)
    # a bracket that misses the rank: the direct selection answers
    monkeypatch.setattr(thresholds_mod, '_sample_bracket', lambda tensors, q:
                        (4000.0, 4001.0))
    assert kth_positive([values], 2500) == 2500.0


def test_zero_threshold_matches_median_definition():
    values = [torch.tensor([0., 1., 2., 3.]), torch.tensor([0., 5.])]
    assert zero_fisher_threshold(values, rel=1.0) == 2.0  # lower median
    ints = [torch.tensor([0, 4, 2, 9], dtype=torch.int64)]
    assert zero_fisher_threshold(ints, rel=0.5) == 2.0
    assert math.isclose(
        zero_fisher_threshold([torch.tensor([1e-12, 1.0, 2.0])]), 1e-8)


@pytest.mark.parametrize('key,value,match', [
    ('v_a', torch.tensor([1., float('nan')]), 'v_a has non-finite'),
    ('h_b', torch.tensor([1., -2.]), 'h_b has negative'),
    ('delta', torch.tensor([float('-inf'), 1.]), 'delta has non-finite'),
])
def test_one_pass_checks_still_name_the_problem(key, value, match):
    base = dict(
        name='blocks.0.w',
        layer=1,
        h_a=torch.ones(2),
        h_b=torch.ones(2),
        delta=torch.zeros(2))
    base[key] = value
    with pytest.raises(ValueError, match=r'^blocks\.0\.w: ' + match):
        proxy_grid([TaskPairStats(**base)], 1, 10, [0.5])
