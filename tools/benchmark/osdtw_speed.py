"""Speed of the OSDTW plug-in vs its baselines, as ratios from one run.

Subcommands (``all`` runs every one in turn)::

    python tools/benchmark/osdtw_speed.py fisher    # per-sample Fisher
    python tools/benchmark/osdtw_speed.py proxy     # proxy search, ViT-B
    python tools/benchmark/osdtw_speed.py head      # head/loss step cost
    python tools/benchmark/osdtw_speed.py decoder   # dual-decoder predict
    python tools/benchmark/osdtw_speed.py pipeline  # whole Digits-LT run
    python tools/benchmark/osdtw_speed.py data      # data share, CIFAR-10-LT
    python tools/benchmark/osdtw_speed.py all [--quick] [--threads 1]

1. ``fisher``: the stage-1 statistics ``v`` and ``h`` (one drawn label,
   :func:`~mmpretrain_osdtw.osdtw.fisher.fisher_statistics`, ``torch.func``)
   vs a loop of per-sample ``autograd.grad`` calls computing the same sums
   (checked equal), and vs one training epoch (forward, backward, AdamW at
   batch 32) over the same samples; two ViT sizes.
2. ``proxy``: :func:`~mmpretrain_osdtw.osdtw.proxy.proxy_grid` on synthetic
   ViT-B statistics (ViT-B/16 tensor shapes, 86M parameters, 12 blocks,
   101 weights; random positive ``h, v``, random ``k, delta``): the pass over
   the parameters and the grid, per phase; the exact method on a slice of
   the same statistics (per-slot cost, and the largest difference).
3. ``head``: training-step time of an ``ImageClassifier`` with
   ``VisionTransformerClsHead`` + ``CrossEntropyLoss`` vs the same model
   with ``LogitAdjustedBCEHead`` / ``LogitAdjustedCEHead``.
4. ``decoder``: ``DualDecoderClassifier.predict`` at several depths ``C``
   vs a plain ViT classifier's predict and vs the cost of running the
   model's blocks once (stem, ``C`` shared blocks, ``2 (L - C)`` decoder
   blocks, called directly), sequential and batched decoders.
5. ``pipeline``: wall time of ``tools/train.py`` on the Digits-LT OSDTW
   pipeline vs the Bal-BCE baseline with the same epochs (subprocesses with
   ``OMP_NUM_THREADS``), with the pipeline's per-step times; then the same
   pipeline with both stage-1 tasks in one data pass
   (``train_cfg.stage1_pair``).
6. ``data``: data loading's share of a fine-tuning epoch on the real
   CIFAR-10-LT training set (IR 100, 12,406 images, from the JPEG folders
   under ``--data-root``; skipped with a message when they are absent):
   the JPEG path (``CustomDataset``, ``LoadImageFromFile`` every epoch) vs
   the images decoded once (``InMemoryImages``), each with the plain
   RandomCrop + flip pipeline and with the fine-tuning recipe's pipeline
   (+ RandAugment, RandomErasing; Mixup/CutMix in the data preprocessor),
   one epoch each, the four loaders taking turns batch by batch, one model
   (ViT 96 dims, 6 blocks, 3 heads, patch 8 at 32 px) training on all of
   them; share = time in the loader / (time in the loader + time in the
   training step). The recipe's pipeline also runs with the plug-in's
   exact, faster transforms (``FastRandomCrop``, ``FastRandomFlip``,
   ``FastRandAugment``, ``FastRandomErasing``: same draws, same output) as
   a fifth loader, and with ``--data-workers N`` once more in N DataLoader
   workers. Then the per-image cost of each pipeline stage.

Timings are medians of interleaved repeats after a warm-up, on CPU, with
``torch.set_num_threads(--threads)`` (1 by default). ``--quick`` shrinks
every workload (smaller N, fewer repeats, 9M-parameter proxy, 2-epoch
pipeline). The numbers hold for this machine and load only: the machine
information (and the load average) is printed first.
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Tuple

import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: Where items 1, 3 and 4 run (``--device``); item 2 is CPU tensor math and
#: item 5 runs ``tools/train.py``, which uses a GPU when there is one.
DEVICE = torch.device('cpu')
NUM_CLASSES = 10
COUNTS = [100, 80, 64, 50, 40, 32, 25, 20, 16, 12]


# ------------------------------------------------------------ timing
def interleaved(fns: Dict[str, Callable[[], object]],
                rounds: int,
                warmup: int = 1) -> Dict[str, float]:
    """Median seconds per call of each function, run in alternation."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def sync() -> None:
    """Wait for queued GPU work, so that wall time covers it."""
    if DEVICE.type == 'cuda':
        torch.cuda.synchronize(DEVICE)


def machine_info(threads: int) -> str:
    """One paragraph: CPU, cores, torch, threads, load."""
    cpu = platform.processor() or 'unknown CPU'
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    load = ' '.join(f'{x:.2f}' for x in os.getloadavg())
    gpu = ''
    if DEVICE.type == 'cuda':
        gpu = f', device {torch.cuda.get_device_name(DEVICE)}'
    return (f'machine: {cpu}, {os.cpu_count()} CPUs, Python '
            f'{platform.python_version()}, torch {torch.__version__}, '
            f'torch threads {threads}, load average {load}{gpu}')


def header(title: str) -> None:
    print(f'\n== {title} ==', flush=True)


# ------------------------------------------------------------ models
def vit_cfg(dims: int, layers: int, img: int, patch: int) -> dict:
    return dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=dims,
            num_layers=layers,
            num_heads=4,
            feedforward_channels=2 * dims),
        img_size=img,
        patch_size=patch,
        drop_rate=0.0)


def classifier(backbone: dict, head: dict, seed: int = 0):
    from mmpretrain.registry import MODELS
    torch.manual_seed(seed)
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            data_preprocessor=dict(
                type='ClsDataPreprocessor',
                num_classes=NUM_CLASSES,
                mean=[120.0] * 3,
                std=[60.0] * 3),
            backbone=backbone,
            head=head))
    with torch.no_grad():  # nonzero head weights (heads init to zero)
        for param in model.parameters():
            param.add_(0.02 * torch.randn_like(param))
    return model.to(DEVICE)


def bce_head(dims: int, task=None) -> dict:
    return dict(
        type='LogitAdjustedBCEHead',
        num_classes=NUM_CLASSES,
        in_channels=dims,
        task=task,
        class_counts=COUNTS,
        loss=dict(type='LogitAdjustedBCELoss', tau=1.0))


def make_batches(num: int, batch_size: int, img: int, seed: int = 0):
    """Batches as mmengine's ``pseudo_collate`` yields them."""
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(
        0, 256, (num, 3, img, img), generator=gen, dtype=torch.uint8)
    labels = torch.randint(0, NUM_CLASSES, (num, ), generator=gen)
    batches = []
    for start in range(0, num, batch_size):
        idx = range(start, min(num, start + batch_size))
        batches.append(
            dict(
                inputs=[images[i] for i in idx],
                data_samples=[
                    DataSample(metainfo=dict(sample_idx=i)).set_gt_label(
                        int(labels[i])) for i in idx
                ]))
    return batches


# ------------------------------------------------------------ 1. Fisher
def loop_fisher(model, batches, seed: int = 0) -> Tuple[dict, dict]:
    """``v`` and ``h`` sums with one ``autograd.grad`` per sample and label.

    The baseline of the ``torch.func`` path: same likelihood, same drawn
    labels (:func:`label_uniforms`), one sample at a time.
    """
    from mmpretrain_osdtw.osdtw.fisher import (TASK_STREAMS, label_uniforms,
                                               logit_offset, task_head)
    head = task_head(model)
    offset = logit_offset(head, torch.float32)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = [p for p in model.parameters() if p.requires_grad]
    v = {n: torch.zeros_like(p, dtype=torch.float64)
         for n, p in zip(names, params)}
    h = {n: torch.zeros_like(p, dtype=torch.float64)
         for n, p in zip(names, params)}
    model.eval()
    for batch in batches:
        data = model.data_preprocessor(batch, training=False)
        inputs, samples = data['inputs'], data['data_samples']
        targets = head.task_targets(samples).float()
        ids = [int(s.sample_idx) for s in samples]
        uniforms = label_uniforms(ids, 1, offset.numel(), seed,
                                  TASK_STREAMS[head.task])[:, 0].float()
        for i in range(inputs.shape[0]):
            z = model(inputs[i:i + 1], mode='tensor')[0] + offset
            prob = torch.sigmoid(z)
            drawn = (uniforms[i].to(prob.device) < prob.detach()).float()
            for target, sums, retain in ((targets[i], v, True),
                                         (drawn, h, False)):
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    z, target, reduction='sum')
                grads = torch.autograd.grad(loss, params, retain_graph=retain)
                for n, g in zip(names, grads):
                    sums[n] += g.double().square()
    return v, h


def train_epoch(model, batches) -> None:
    """One epoch: forward, backward and AdamW step per batch."""
    model.train()
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
    for batch in batches:
        data = model.data_preprocessor(batch, training=True)
        losses = model.loss(data['inputs'], data['data_samples'])
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        optim.zero_grad()
        loss.backward()
        optim.step()


def fused_attention_fisher(model, batches, chunk_size: int):
    """``fisher_statistics`` as before the math-kernel change: the fused
    attention kernel, which ``vmap`` runs once per sample (no batching
    rule)."""
    import contextlib
    from unittest import mock

    from mmpretrain_osdtw.osdtw.fisher import fisher_statistics, per_sample
    with mock.patch.object(per_sample, 'sdpa_kernel',
                           lambda *_: contextlib.nullcontext()):
        return fisher_statistics(
            model, batches, num_model_samples=1, chunk_size=chunk_size)


def bench_fisher(args) -> List[dict]:
    from mmpretrain_osdtw.osdtw.fisher import fisher_statistics
    header('1. per-sample diagonal Fisher (v and h, one drawn label)')
    num = 128 if args.quick else 512
    sizes = [('vit-nano-p2 8px (64 dims, 4 blocks)', vit_cfg(64, 4, 8, 2),
              8, 64),
             ('vit 192 dims, 6 blocks, 32px, patch 4', vit_cfg(192, 6, 32, 4),
              32, 192)]
    rows = []
    for name, backbone, img, dims in sizes:
        model = classifier(backbone, bce_head(dims, task='head'))
        nparams = sum(p.numel() for p in model.parameters())
        fisher_batches = make_batches(num, 64, img)
        train_batches = make_batches(num, 32, img)
        loop_v = loop_fisher(model, fisher_batches[:1])[0]
        stats = fisher_statistics(
            model, fisher_batches[:1], num_model_samples=1, chunk_size=64)
        count = len(fisher_batches[0]['inputs'])
        err = max(
            float((stats['v'][n].double() - loop_v[n] / count).abs().max() /
                  stats['v'][n].double().abs().max().clamp_min(1e-30))
            for n in loop_v)
        fns = {
            'torch.func':
            lambda: fisher_statistics(
                model, fisher_batches, num_model_samples=1, chunk_size=64),
            'torch.func16':
            lambda: fisher_statistics(
                model, fisher_batches, num_model_samples=1, chunk_size=16),
            'fused':
            lambda: fused_attention_fisher(model, fisher_batches, 64),
            'loop':
            lambda: loop_fisher(model, fisher_batches),
            'epoch':
            lambda: train_epoch(model, train_batches),
        }
        t = interleaved(fns, rounds=1, warmup=0)
        row = dict(
            model=name,
            params=nparams,
            N=num,
            func_s=t['torch.func'],
            func_chunk16_s=t['torch.func16'],
            func_fused_attention_s=t['fused'],
            loop_s=t['loop'],
            epoch_s=t['epoch'],
            speedup_vs_loop=t['loop'] / t['torch.func'],
            ratio_vs_epoch=t['torch.func'] / t['epoch'],
            max_rel_diff_v=err)
        rows.append(row)
        print(f'{name}: {nparams / 1e6:.2f}M params, N={num}: torch.func '
              f'{t["torch.func"]:.2f} s (vmap chunk 64; chunk 16: '
              f'{t["torch.func16"]:.2f} s; fused attention kernel under vmap:'
              f' {t["fused"]:.2f} s), per-sample loop '
              f'{t["loop"]:.2f} s, one training epoch (batch 32) '
              f'{t["epoch"]:.2f} s')
        print(f'  speed-up vs loop: {row["speedup_vs_loop"]:.1f}x '
              f'(target >= 10x); Fisher / epoch: '
              f'{row["ratio_vs_epoch"]:.2f}x (target <= 2x); '
              f'v agrees with the loop to {err:.1e} (relative)')
    return rows


# ------------------------------------------------------------ 2. proxy
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


# ------------------------------------------------------------ 3. head
def bench_head(args) -> dict:
    from mmpretrain.structures import DataSample
    header('3. training-step cost of the head/loss')
    batch = 64
    backbone = vit_cfg(64, 4, 32, 4)
    heads = {
        'ViTClsHead+CE':
        dict(
            type='VisionTransformerClsHead',
            num_classes=NUM_CLASSES,
            in_channels=64,
            loss=dict(type='CrossEntropyLoss')),
        'LogitAdjustedBCEHead':
        bce_head(64),
        'LogitAdjustedCEHead':
        dict(
            type='LogitAdjustedCEHead',
            num_classes=NUM_CLASSES,
            in_channels=64,
            class_counts=COUNTS,
            loss=dict(type='LogitAdjustedCELoss', tau=1.0)),
    }
    inputs = torch.randn(batch, 3, 32, 32, device=DEVICE)
    samples = [
        DataSample().set_gt_label(i % NUM_CLASSES).to(DEVICE)
        for i in range(batch)
    ]

    def step_fn(model):
        optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
        model.train()
        steps = 5 if args.quick else 10

        def run():
            for _ in range(steps):
                losses = model.loss(inputs, samples)
                loss = sum(v for k, v in losses.items() if 'loss' in k)
                optim.zero_grad()
                loss.backward()
                optim.step()

        return run, steps

    fns, steps = {}, 1
    for name, head in heads.items():
        fns[name], steps = step_fn(classifier(backbone, head))
    t = interleaved(fns, rounds=3 if args.quick else 7)
    base = t['ViTClsHead+CE']
    row = {name: dict(step_ms=v / steps * 1e3, ratio=v / base)
           for name, v in t.items()}
    print(f'ViT 64 dims, 4 blocks, 32px/patch 4, batch {batch}: ' + ', '.join(
        f'{n} {r["step_ms"]:.1f} ms/step ({r["ratio"]:.3f}x)'
        for n, r in row.items()))
    print('  overhead vs the plain head (target <= 3%): ' + ', '.join(
        f'{n} {100 * (r["ratio"] - 1):+.1f}%' for n, r in row.items()
        if n != 'ViTClsHead+CE'))
    return row


# ------------------------------------------------------------ 4. decoder
def block_cost_fn(model, inputs):
    """Run the stem, the shared blocks and both decoders' blocks directly."""
    from mmpretrain_osdtw.models.utils.vit_parts import vit_stem

    def run():
        with torch.no_grad():
            tokens = None
            if model.backbone is not None:
                tokens, _ = vit_stem(model.backbone, model.meta, inputs)
                for layer in model.backbone.layers:
                    tokens = layer(tokens)
            for decoder in model.decoders.values():
                x = tokens
                if decoder.has_stem:
                    x, _ = vit_stem(decoder, model.meta, inputs)
                for layer in decoder.layers.values():
                    x = layer(x)

    return run


def bench_decoder(args) -> List[dict]:
    from mmpretrain.registry import MODELS
    header('4. DualDecoderClassifier inference')
    dims, layers, img, patch = 64, 4, 32, 4
    backbone = vit_cfg(dims, layers, img, patch)
    batch = 64 if args.quick else 128
    inputs = torch.randn(batch, 3, img, img, device=DEVICE)
    plain = classifier(backbone, bce_head(dims)).eval()
    rows = []
    has_batched = 'batched_decoders' in MODELS.get(
        'DualDecoderClassifier').__init__.__code__.co_varnames
    for depth in sorted({0, layers // 2, layers - 1, layers}):
        torch.manual_seed(0)
        cfg = dict(
            type='DualDecoderClassifier',
            backbone=backbone,
            head=dict(bce_head(dims), task=None),
            shared_depth=depth)
        model = MODELS.build(cfg).to(DEVICE).eval()
        fns = {
            'plain ViT': lambda: plain.predict(inputs),
            'blocks once': block_cost_fn(model, inputs),
            'dual (sequential)': lambda m=model: m.predict(inputs),
        }
        if has_batched:
            cfg['batched_decoders'] = True
            batched = MODELS.build(cfg).to(DEVICE).eval()
            batched.load_state_dict(model.state_dict())
            fns['dual (batched)'] = lambda m=batched: m.predict(inputs)
        with torch.no_grad():
            t = interleaved(fns, rounds=5 if args.quick else 11)
        row = dict(C=depth, L=layers, batch=batch,
                   **{k: v * 1e3 for k, v in t.items()})
        blocks = t['blocks once']
        row['seq_vs_blocks'] = t['dual (sequential)'] / blocks
        row['seq_vs_plain'] = t['dual (sequential)'] / t['plain ViT']
        msg = (f'C={depth}/{layers}, batch {batch}: plain ViT '
               f'{t["plain ViT"] * 1e3:.1f} ms, blocks once '
               f'{blocks * 1e3:.1f} ms, dual sequential '
               f'{t["dual (sequential)"] * 1e3:.1f} ms '
               f'({row["seq_vs_blocks"]:.3f}x blocks, '
               f'{row["seq_vs_plain"]:.2f}x plain)')
        if has_batched:
            row['batched_vs_blocks'] = t['dual (batched)'] / blocks
            msg += (f', dual batched {t["dual (batched)"] * 1e3:.1f} ms '
                    f'({row["batched_vs_blocks"]:.3f}x blocks)')
        print(msg)
        rows.append(row)
    print('  target: dual predict <= 1.05x the cost of its blocks')
    return rows


# ------------------------------------------------------------ 5. pipeline
def _run(cmd: List[str], env: dict, log: str) -> float:
    start = time.perf_counter()
    with open(log, 'w') as f:
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=f,
                              stderr=subprocess.STDOUT)
    elapsed = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f'{" ".join(cmd)} failed (exit {proc.returncode})'
                           f'; see {log}')
    return elapsed


def bench_pipeline(args) -> dict:
    header('5. whole OSDTW pipeline vs one baseline training (Digits-LT)')
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    tmp = tempfile.mkdtemp(prefix='osdtw_speed_')
    pipe_dir = osp.join(REPO, 'configs/osdtw/digits_lt')
    pipeline_cfg = osp.join(pipe_dir, 'pipeline.py')
    baseline_cfg = osp.join(
        REPO, 'configs/baselines/digits_lt/vit-nano-p2_bal-bce.py')
    base_opts = []
    if args.quick:
        epochs = 2
        pipeline_cfg = osp.join(tmp, 'pipeline_quick.py')
        stages = dict(
            stage1_head='stage1_head.py',
            stage1_tail='stage1_tail.py',
            stage2='stage2_joint.py',
            assemble='stage3_assemble.py',
            refine='stage3_refine.py')
        with open(pipeline_cfg, 'w') as f:
            f.write(f"_base_ = {osp.join(pipe_dir, 'pipeline.py')!r}\n"
                    'train_cfg = dict(\n')
            for key, name in stages.items():
                f.write(f'    {key}={osp.join(pipe_dir, name)!r},\n')
            f.write("    stage_cfg_options={'train_cfg.max_epochs': "
                    f'{epochs}}})\n')
        base_opts = ['--cfg-options', f'train_cfg.max_epochs={epochs}']
    py = sys.executable
    wall = {}
    wall['baseline'] = _run(
        [py, 'tools/train.py', baseline_cfg, '--work-dir',
         osp.join(tmp, 'baseline')] + base_opts, env,
        osp.join(tmp, 'baseline.log'))
    wall['pipeline'] = _run(
        [py, 'tools/train.py', pipeline_cfg, '--work-dir',
         osp.join(tmp, 'pipeline')], env, osp.join(tmp, 'pipeline.log'))
    # stage 1 in one data pass (TaskPairClassifier)
    pair_cfg = osp.join(pipe_dir, 'stage1_pair.py')
    wall['pipeline_pair'] = _run(
        [py, 'tools/train.py', pipeline_cfg, '--work-dir',
         osp.join(tmp, 'pipeline_pair'), '--cfg-options',
         f'train_cfg.stage1_pair={pair_cfg}'], env,
        osp.join(tmp, 'pipeline_pair.log'))
    steps = {}
    for name in ('pipeline', 'pipeline_pair'):
        with open(osp.join(tmp, name, 'test', 'report.json')) as f:
            steps[name] = json.load(f).get('timings', {})
    row = dict(
        baseline_s=wall['baseline'],
        pipeline_s=wall['pipeline'],
        ratio=wall['pipeline'] / wall['baseline'],
        pipeline_pair_s=wall['pipeline_pair'],
        ratio_pair=wall['pipeline_pair'] / wall['baseline'],
        steps_s=steps['pipeline'],
        steps_pair_s=steps['pipeline_pair'],
        work_dir=tmp,
        quick=args.quick)
    print(f'baseline (Bal-BCE, {"2" if args.quick else "60"} epochs) '
          f'{wall["baseline"]:.1f} s; pipeline {wall["pipeline"]:.1f} s; '
          f'ratio {row["ratio"]:.2f}x (target <= 2.0x)')
    print('  pipeline steps (s): ' + ', '.join(
        f'{k} {v:.1f}' for k, v in steps['pipeline'].items()))
    print(f'stage 1 in one data pass (train_cfg.stage1_pair): pipeline '
          f'{wall["pipeline_pair"]:.1f} s; ratio {row["ratio_pair"]:.2f}x')
    print('  pipeline steps (s): ' + ', '.join(
        f'{k} {v:.1f}' for k, v in steps['pipeline_pair'].items()))
    return row

# ------------------------------------------------------------ 6. data
CIFAR10_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog',
                   'frog', 'horse', 'ship', 'truck')
#: The converged benchmark's settings, which hold the fine-tuning recipe's
#: per-sample training pipeline at 32 px (one home for it).
BENCH_SETTINGS = osp.join(REPO, 'configs', 'benchmarks', 'cifar10_lt_mgp',
                          '_bench.py')
#: MMPretrain's transforms and the plug-in's exact, faster versions of them
#: (``mmpretrain_osdtw/datasets/transforms``: same draws, same output).
FAST_TYPES = dict(
    RandomCrop='FastRandomCrop',
    RandomFlip='FastRandomFlip',
    RandAugment='FastRandAugment',
    RandomErasing='FastRandomErasing')


def recipe_pipeline(fast: bool) -> List[dict]:
    """The recipe's per-sample pipeline after the loading step, as the
    converged benchmark runs it (``fast``) or with MMPretrain's own
    transforms; Mixup/CutMix run in the data preprocessor."""
    from mmengine.config import Config
    pipeline = Config.fromfile(BENCH_SETTINGS).bench_train_pipeline
    names = {v: k for k, v in FAST_TYPES.items()}
    steps = [t.to_dict() for t in pipeline if t.type != 'LoadImageFromFile']
    if fast:
        return steps
    return [dict(t, type=names.get(t['type'], t['type'])) for t in steps]


RECIPE_PIPELINE = recipe_pipeline(fast=False)
FAST_RECIPE_PIPELINE = recipe_pipeline(fast=True)
PLAIN_PIPELINE = RECIPE_PIPELINE[:2] + [dict(type='PackInputs')]
RECIPE_BATCH_AUGMENTS = dict(
    augments=[dict(type='Mixup', alpha=0.8),
              dict(type='CutMix', alpha=1.0)])


def cifar_lt_dataset_cfg(data_root: str, pipeline: List[dict],
                         in_memory: bool, imb_ratio: float = 100,
                         split: str = 'train',
                         classes=CIFAR10_CLASSES) -> dict:
    """CIFAR-LT training set over the JPEG folders, optionally in memory.

    The same ``CustomDataset`` either way; ``in_memory`` wraps it in
    ``InMemoryImages`` (inside ``LongTailedDataset``, as
    ``configs/_base_/datasets/cifar10_lt_jpeg_in_memory.py`` does).
    """
    folder = dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix=split,
        metainfo=dict(classes=tuple(classes)),
        pipeline=[dict(type='LoadImageFromFile')] + list(pipeline))
    if in_memory:
        folder = dict(type='InMemoryImages', dataset=folder)
    return dict(type='LongTailedDataset', imb_ratio=imb_ratio, dataset=folder)


def cifar_preprocessor_cfg(batch_augments=None) -> dict:
    """``ClsDataPreprocessor`` of the CIFAR configs: RGB mean/std, BGR
    images from ``LoadImageFromFile`` converted to RGB; one-hot labels
    (what Mixup/CutMix turn on) also without batch augments, so that one
    soft-label loss serves both."""
    return dict(
        type='ClsDataPreprocessor',
        num_classes=10,
        mean=[125.307, 122.961, 113.8575],
        std=[51.5865, 50.847, 51.255],
        to_rgb=True,
        to_onehot=True,
        batch_augments=batch_augments)


def finetune_model(batch_augments=None, dims: int = 96, layers: int = 6,
                   heads: int = 3, ffn: int = 384, img: int = 32,
                   patch: int = 8, num_classes: int = 10, seed: int = 0):
    """The fine-tuning recipe's small ViT classifier (average pooling,
    drop path 0.1, soft-label CE for Mixup/CutMix)."""
    from mmpretrain.registry import MODELS
    torch.manual_seed(seed)
    return MODELS.build(
        dict(
            type='ImageClassifier',
            data_preprocessor=dict(
                cifar_preprocessor_cfg(batch_augments),
                num_classes=num_classes),
            backbone=dict(
                type='VisionTransformer',
                arch=dict(
                    embed_dims=dims,
                    num_layers=layers,
                    num_heads=heads,
                    feedforward_channels=ffn),
                img_size=img,
                patch_size=patch,
                out_type='avg_featmap',
                final_norm=False,
                drop_path_rate=0.1),
            neck=None,
            head=dict(
                type='LinearClsHead',
                num_classes=num_classes,
                in_channels=dims,
                loss=dict(type='CrossEntropyLoss', use_soft=True)))).to(
                    DEVICE)


def timed_epochs(loaders: Dict[str, object],
                 model,
                 preprocessors: Dict[str, object],
                 max_batches: int = 0) -> Dict[str, Dict[str, float]]:
    """One epoch per loader, the loaders taking turns batch by batch.

    Each turn times ``next(loader)`` (the data path: sampling, pipeline,
    collate) and the training step (as ``BaseModel.train_step``: the
    loader's data preprocessor, forward, loss, backward, AdamW), with the
    preprocessor also timed on its own.

    Returns:
        dict: per loader ``data_s``, ``preprocess_s``, ``step_s`` (the
        whole training step, preprocessor included), ``images``.
    """
    from mmengine.optim import OptimWrapper
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-4))
    model.train()
    iters = {name: iter(loader) for name, loader in loaders.items()}
    out = {name: dict(data_s=0., preprocess_s=0., step_s=0., images=0)
           for name in loaders}
    batches = 0
    while iters and (not max_batches or batches < max_batches):
        batches += 1
        for name in list(iters):
            start = time.perf_counter()
            try:
                batch = next(iters[name])
            except StopIteration:
                del iters[name]
                continue
            got = time.perf_counter()
            with optim.optim_context(model):
                data = preprocessors[name](batch, True)
                sync()
                prep = time.perf_counter()
                losses = model._run_forward(data, mode='loss')
                loss, _ = model.parse_losses(losses)
                optim.update_params(loss)
            sync()
            end = time.perf_counter()
            row = out[name]
            row['data_s'] += got - start
            row['preprocess_s'] += prep - got
            row['step_s'] += end - got
            row['images'] += len(batch['inputs'])
    return out


def stage_costs(dataset, num: int, seed: int = 0) -> Dict[str, float]:
    """Milliseconds per image of each stage of a dataset's data path.

    ``dataset`` is a built ``LongTailedDataset`` over a ``CustomDataset``
    (JPEG path) or ``InMemoryImages``; ``num`` samples (a seeded random
    choice) go through the annotation look-up (and for ``InMemoryImages``
    the copy of the held image), then each transform in turn, each timed;
    ``collate`` is ``pseudo_collate`` on batches of 128 of the results.
    """
    from mmengine.dataset import pseudo_collate
    import numpy as np
    rng = np.random.RandomState(seed)
    idx = rng.choice(len(dataset), size=min(num, len(dataset)),
                     replace=False)
    inner = dataset.dataset
    in_memory = type(inner).__name__ == 'InMemoryImages'
    transforms = list(inner.pipeline.transforms)
    if in_memory:
        transforms = [None] + transforms  # the look-up and copy
    names = ['in-memory image + annotation' if t is None else
             type(t).__name__ for t in transforms]
    if not in_memory:
        names[0] = 'annotation + ' + names[0]
    totals = [0.] * len(transforms)
    results = []
    np.random.seed(seed)
    for i in idx:
        base = int(dataset.indices[i])
        start = time.perf_counter()
        if in_memory:
            info = inner.dataset.get_data_info(base)
            img = inner.images[base].copy()
            info.update(img=img, img_shape=img.shape[:2],
                        ori_shape=img.shape[:2])
        else:
            info = inner.get_data_info(base)
        for k, transform in enumerate(transforms):
            if transform is not None:
                info = transform(info)
            now = time.perf_counter()
            totals[k] += now - start
            start = now
        results.append(info)
    costs = {name: 1e3 * t / len(idx) for name, t in zip(names, totals)}
    start = time.perf_counter()
    for first in range(0, len(results), 128):
        pseudo_collate(results[first:first + 128])
    costs['collate (pseudo_collate)'] = (
        1e3 * (time.perf_counter() - start) / len(results))
    costs['total'] = sum(costs.values())
    return costs


def data_share(row: Dict[str, float]) -> Dict[str, float]:
    """Shares of an epoch: loader / (loader + step), and with the data
    preprocessor (normalisation, Mixup/CutMix) counted as data too."""
    total = row['data_s'] + row['step_s']
    return dict(
        share=row['data_s'] / total,
        share_with_preprocessor=(row['data_s'] + row['preprocess_s']) /
        total,
        data_ms_per_img=1e3 * row['data_s'] / row['images'],
        preprocess_ms_per_img=1e3 * row['preprocess_s'] / row['images'],
        step_ms_per_img=1e3 * row['step_s'] / row['images'],
        model_img_per_s=row['images'] /
        (row['step_s'] - row['preprocess_s']))


def bench_data(args) -> dict:
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    from mmpretrain.registry import DATASETS, MODELS
    header('6. data loading share of a fine-tuning epoch (CIFAR-10-LT IR 100)')
    root = osp.join(REPO, args.data_root) if not osp.isabs(
        args.data_root) else args.data_root
    if not osp.isdir(osp.join(root, 'train')):
        msg = (f'skipped: {osp.join(root, "train")} is absent (unpack the '
               'CIFAR-10 JPEG archive: mkdir -p data/cifar10 && tar -xzf '
               '../shared/data/cifar10/cifar10_jpeg.tar.gz -C data/cifar10)')
        print(msg)
        return dict(skipped=msg)
    init_default_scope('mmpretrain')
    pipelines = dict(plain=PLAIN_PIPELINE, recipe=RECIPE_PIPELINE)
    # (data path, pipeline name, pipeline, DataLoader workers)
    variants = [(memory, pipe_name, pipeline, 0) for memory in (False, True)
                for pipe_name, pipeline in pipelines.items()]
    variants.append((True, 'recipe, fast transforms', FAST_RECIPE_PIPELINE,
                     0))
    if args.data_workers:
        variants.append(
            (True, f'recipe, fast transforms, num_workers='
             f'{args.data_workers}', FAST_RECIPE_PIPELINE, args.data_workers))
    loaders, datasets, build_s = {}, {}, {}
    for memory, pipe_name, pipeline, workers in variants:
        name = f'{"in-memory" if memory else "JPEG"}, {pipe_name}'
        start = time.perf_counter()
        datasets[name] = DATASETS.build(
            cifar_lt_dataset_cfg(root, pipeline, memory))
        build_s[name] = time.perf_counter() - start
        loaders[name] = Runner.build_dataloader(
            dict(
                batch_size=128,
                num_workers=workers,
                persistent_workers=workers > 0,
                dataset=datasets[name],
                sampler=dict(type='DefaultSampler', shuffle=True)),
            seed=0)
    model = finetune_model()
    preprocessors = {}
    for name in loaders:
        augments = RECIPE_BATCH_AUGMENTS if 'recipe' in name else None
        preprocessors[name] = MODELS.build(
            cifar_preprocessor_cfg(augments)).to(DEVICE)
    nparams = sum(p.numel() for p in model.parameters())
    timed_epochs(loaders, model, preprocessors, max_batches=2)  # warm-up
    epochs = timed_epochs(loaders, model, preprocessors,
                          max_batches=20 if args.quick else 0)
    rows = {}
    for name, row in epochs.items():
        rows[name] = dict(row, **data_share(row), build_s=build_s[name])
        r = rows[name]
        print(f'{name}: {r["images"]} images; loader '
              f'{r["data_ms_per_img"]:.3f} ms/img, training step '
              f'{r["step_ms_per_img"]:.3f} ms/img (of which data '
              f'preprocessor {r["preprocess_ms_per_img"]:.3f}); data share '
              f'{100 * r["share"]:.1f} % (with the preprocessor '
              f'{100 * r["share_with_preprocessor"]:.1f} %); dataset build '
              f'{r["build_s"]:.1f} s')
    print('  model: ViT 96 dims, 6 blocks, 3 heads, MLP 384, patch 8 at 32 '
          f'px ({nparams / 1e6:.2f}M params), batch 128, AdamW; target: data '
          'share <= 15 %')
    num = 500 if args.quick else 3000
    costs = {}
    for name, dataset in datasets.items():
        if 'num_workers' in name:
            continue  # same dataset as the row without workers
        costs[name] = stage_costs(dataset, num)
        print(f'  per-image stages, {name} (ms, {min(num, len(dataset))} '
              'images): ' + ', '.join(f'{k} {v:.4f}'
                                      for k, v in costs[name].items()))
    fast, ref = 'in-memory, recipe, fast transforms', 'in-memory, recipe'
    speedup = dict(
        loader=rows[ref]['data_ms_per_img'] / rows[fast]['data_ms_per_img'],
        pipeline=costs[ref]['total'] / costs[fast]['total'])
    print(f'  fast transforms vs MMPretrain\'s (in memory, recipe): loader '
          f'{speedup["loader"]:.2f}x, per-image stages '
          f'{speedup["pipeline"]:.2f}x faster')
    return dict(epochs=rows, stage_ms=costs, params=nparams,
                fast_speedup=speedup, quick=args.quick)


BENCHES = dict(
    fisher=bench_fisher,
    proxy=bench_proxy,
    head=bench_head,
    decoder=bench_decoder,
    pipeline=bench_pipeline,
    data=bench_data)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('bench', choices=list(BENCHES) + ['all'])
    parser.add_argument(
        '--quick', action='store_true', help='small workloads, few repeats')
    parser.add_argument(
        '--threads', type=int, default=1, help='torch/OpenMP threads')
    parser.add_argument(
        '--device',
        default='cpu',
        help='device of items 1, 3 and 4 (default cpu; e.g. cuda)')
    parser.add_argument(
        '--data-root',
        default='data/cifar10',
        help='CIFAR-10 JPEG folders ({train,test}/<class>/*.jpg) of item 6, '
        'relative to the repository (default data/cifar10)')
    parser.add_argument(
        '--data-workers',
        type=int,
        default=0,
        help='item 6: also time the fast recipe pipeline with this many '
        'DataLoader workers (default 0: not run; the loader time is then '
        'the wait for the next batch)')
    parser.add_argument('--json', help='also write the results to this file')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    global DEVICE
    DEVICE = torch.device(args.device)
    torch.set_num_threads(args.threads)
    import mmpretrain_osdtw  # noqa: F401  (registers the plug-in)
    print(machine_info(args.threads))
    names = list(BENCHES) if args.bench == 'all' else [args.bench]
    results = {}
    for name in names:
        results[name] = BENCHES[name](args)
    print('\n' + machine_info(args.threads))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1, default=str)
    return 0


if __name__ == '__main__':
    sys.exit(main())
