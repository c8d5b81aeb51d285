"""Item 4, ``decoder``: ``DualDecoderClassifier.predict`` at several
depths ``C`` vs a plain ViT classifier's predict and vs the cost of running
the model's blocks once (stem, ``C`` shared blocks, ``2 (L - C)`` decoder
blocks, called directly), sequential and batched decoders."""
from typing import List

import torch

from . import runtime
from .runtime import header, interleaved
from .workloads import bce_head, classifier, vit_cfg


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
    inputs = torch.randn(batch, 3, img, img, device=runtime.DEVICE)
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
        model = MODELS.build(cfg).to(runtime.DEVICE).eval()
        fns = {
            'plain ViT': lambda: plain.predict(inputs),
            'blocks once': block_cost_fn(model, inputs),
            'dual (sequential)': lambda m=model: m.predict(inputs),
        }
        if has_batched:
            cfg['batched_decoders'] = True
            batched = MODELS.build(cfg).to(runtime.DEVICE).eval()
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
