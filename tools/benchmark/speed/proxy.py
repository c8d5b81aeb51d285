"""Item 2, ``proxy``: :func:`~mmpretrain_osdtw.osdtw.proxy.proxy_grid` on
synthetic ViT-B statistics (ViT-B/16 tensor shapes, 86M parameters, 12
blocks, 101 weights; random positive ``h, v``, random ``k, delta``): the
pass over the parameters and the grid, per phase; the exact method on a
slice of the same statistics (per-slot cost, and the largest
difference)."""
import statistics

import torch

from .runtime import header, interleaved


def vit_b_shapes(dims=768, layers=12, ffn=3072, patch=16, tokens=197,
                 classes=1000):
    """(name, shape, OSDTW layer) of a ViT-B/16 classifier's parameters."""
    out = [('patch_embed.projection.weight', (dims, 3, patch, patch), 1),
           ('patch_embed.projection.bias', (dims, ), 1),
           ('cls_token', (1, 1, dims), 1), ('pos_embed', (1, tokens, dims),
                                            1)]
    block = [('ln1.weight', (dims, )), ('ln1.bias', (dims, )),
             ('attn.qkv.weight', (3 * dims, dims)),
             ('attn.qkv.bias', (3 * dims, )),
             ('attn.proj.weight', (dims, dims)), ('attn.proj.bias', (dims, )),
             ('ln2.weight', (dims, )), ('ln2.bias', (dims, )),
             ('ffn.layers.0.0.weight', (ffn, dims)),
             ('ffn.layers.0.0.bias', (ffn, )),
             ('ffn.layers.1.weight', (dims, ffn)),
             ('ffn.layers.1.bias', (dims, ))]
    for i in range(layers):
        out += [(f'layers.{i}.{n}', s, i + 1) for n, s in block]
    out += [('ln1.weight', (dims, ), 0), ('ln1.bias', (dims, ), 0),
            ('head.weight', (classes, dims), 0), ('head.bias', (classes, ), 0)]
    return out


def synthetic_vit_b_stats(fraction: float = 1.0, seed: int = 0):
    """Synthetic float32 stage-1 statistics with ViT-B/16 shapes.

    ``fraction < 1`` keeps that share of every body tensor (flattened).
    """
    from mmpretrain_osdtw.osdtw.proxy import TaskPairStats
    gen = torch.Generator().manual_seed(seed)
    stats = []
    for name, shape, layer in vit_b_shapes():
        if fraction < 1 and layer > 0:
            numel = 1
            for s in shape:
                numel *= s
            shape = (max(1, int(numel * fraction)), )
        ha = torch.rand(shape, generator=gen).add_(0.01)
        hb = torch.rand(shape, generator=gen).add_(0.01)
        va = ha * torch.rand(shape, generator=gen).add_(0.5)
        vb = hb * torch.rand(shape, generator=gen).add_(0.5)
        k = (va * vb).sqrt_().mul_(torch.rand(shape, generator=gen).sub_(0.5))
        delta = torch.randn(shape, generator=gen).mul_(0.01)
        stats.append(
            TaskPairStats(
                name, layer, ha, hb, v_a=va, v_b=vb, k=k, delta=delta))
    return stats


def bench_proxy(args) -> dict:
    from mmpretrain_osdtw.osdtw.proxy import make_w_grid, proxy_grid
    header('2. proxy search from ViT-B-sized statistics (synthetic)')
    fraction = 0.1 if args.quick else 1.0
    stats = synthetic_vit_b_stats(fraction)
    nparams = sum(s.numel() for s in stats)
    w = make_w_grid(0.01)
    kwargs = dict(num_layers=12, num_samples=115_846, w_grid=w)
    runs = []
    for _ in range(1 if args.quick else 3):
        grid = proxy_grid(stats, method='expansion', **kwargs)
        runs.append(grid.timings)
    phases = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    one_pass = phases['validate'] + phases['thresholds'] + phases['pass']
    grid_s = phases['evaluate'] + phases['grid']
    # the exact method on a slice of the statistics (its cost is per slot)
    part = synthetic_vit_b_stats(0.005 if args.quick else 0.01)
    part_n = sum(s.numel() for s in part)
    t = interleaved(
        dict(
            exact=lambda: proxy_grid(part, method='exact', **kwargs),
            expansion=lambda: proxy_grid(part, method='expansion', **kwargs)),
        rounds=1,
        warmup=0)
    exact = proxy_grid(part, method='exact', **kwargs)
    fast = proxy_grid(part, method='expansion', **kwargs)
    diff = float((exact.proxy - fast.proxy).abs().max() /
                 exact.proxy.abs().max())
    row = dict(
        params=nparams,
        num_w=w.numel(),
        phases=phases,
        one_pass_s=one_pass,
        grid_s=grid_s,
        total_s=sum(phases.values()),
        chosen=grid.argmin(),
        exact_slice_params=part_n,
        exact_slice_s=t['exact'],
        expansion_slice_s=t['expansion'],
        exact_extrapolated_s=t['exact'] * nparams / part_n,
        max_rel_diff=diff)
    print(f'{nparams / 1e6:.1f}M parameters, {w.numel()} weights: '
          + ', '.join(f'{k} {v:.3f} s' for k, v in phases.items()))
    print(f'  one pass over the parameters (checks + zero-Fisher median + '
          f'moments): {one_pass:.2f} s (target <= 1 s); grid from the '
          f'moments: {grid_s * 1e3:.1f} ms (target <= 10 ms); chosen '
          f'(C, w_A) = {row["chosen"]}')
    print(f'  exact method on a {part_n / 1e6:.2f}M slice: {t["exact"]:.2f} s '
          f'(expansion {t["expansion"]:.2f} s) -> exact ~'
          f'{row["exact_extrapolated_s"]:.0f} s for {nparams / 1e6:.0f}M; '
          f'max |exact - expansion| / max|P| = {diff:.1e}')
    return row
