"""Item 1, ``fisher``: the stage-1 statistics ``v`` and ``h`` (one drawn
label, :func:`~mmpretrain_osdtw.osdtw.fisher.fisher_statistics`,
``torch.func``) vs a loop of per-sample ``autograd.grad`` calls computing
the same sums (checked equal), and vs one training epoch (forward,
backward, AdamW at batch 32) over the same samples; two ViT sizes."""
from typing import List, Tuple

import torch

from ..common.training import loss_step
from .runtime import header, interleaved
from .workloads import bce_head, classifier, make_batches, vit_cfg


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
        loss_step(model, optim, data['inputs'], data['data_samples'])


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
