"""Item 3, ``head``: training-step time of an ``ImageClassifier`` with
``VisionTransformerClsHead`` + ``CrossEntropyLoss`` vs the same model with
``LogitAdjustedBCEHead`` / ``LogitAdjustedCEHead``."""
import torch

from ..common.training import loss_step
from . import runtime
from .runtime import header, interleaved
from .workloads import COUNTS, NUM_CLASSES, bce_head, classifier, vit_cfg


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
    inputs = torch.randn(batch, 3, 32, 32, device=runtime.DEVICE)
    samples = [
        DataSample().set_gt_label(i % NUM_CLASSES).to(runtime.DEVICE)
        for i in range(batch)
    ]

    def step_fn(model):
        optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
        model.train()
        steps = 5 if args.quick else 10

        def run():
            for _ in range(steps):
                loss_step(model, optim, inputs, samples)

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
