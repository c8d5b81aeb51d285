"""Size the CPU fine-tuning recipe: throughput of candidate small ViTs and
the wall time of the converged CIFAR-10-LT benchmark they imply.

For each candidate ViT at 32 px (``--archs``, ``dims,blocks,patch``), one
process measures, interleaved and on ``--threads`` torch threads:

- ``ft``: a fine-tuning step of the recipe's model (``ImageClassifier``,
  average-pooled tokens with fc norm, drop path 0.1, ``LogitAdjustedBCEHead``,
  Mixup/CutMix in the data preprocessor, AdamW), batch ``--batch-size``;
- ``more``: the same step of ``MOREClassifier`` (rank 8, every block linear;
  two passes with gradients through both);
- ``mae``: an MAE pretraining step (MMPretrain's ``MAE``, ``MAEViT`` with
  mask ratio 0.75, a 2-block decoder, normalised-pixel loss);
- ``infer``: a test step (forward only, batch 256).

Inputs are synthetic uint8 images (the data path is measured separately, by
``python -m tools.benchmark.speed data``). From the rates it prints the
benchmark's estimated wall time with ``--jobs`` single-thread runs at a
time, for ``--epochs`` epochs per training run (stage 1 : stage 2 :
refinement = 100 : 100 : 30), ``--mgp-epochs`` MGP epochs (run alone, on all
threads), and the data loading share ``--data-share`` added to every
training epoch::

    python tools/benchmark/recipe_budget.py --archs 64,4,8 96,6,8 128,6,8
    python tools/benchmark/recipe_budget.py --epochs 20 --mgp-epochs 200

The plan counted (the protocol of ``docs/benchmarks/converged.md``): per seed
CE, LA-CE, Bal-BCE, Bal-BCE from scratch (one training each), MORE + Bal-BCE,
and the OSDTW pipeline (two stage-1 task models, stage 2, refinement, the
Fisher passes on ``--fisher-samples`` images, six test passes); once, the
ablation: stage 2 at 5 head weights and refinement of 4 x 5 grid cells.
Every training run evaluates the test set after every epoch.
"""
import argparse
import os.path as osp
import sys
from typing import Callable, Dict

import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:  # run as a file: the repository's packages first
    sys.path.insert(0, REPO)
from tools.benchmark.common import plan  # noqa: E402
from tools.benchmark.common.plan import (UnitCosts,  # noqa: E402
                                         fisher_seconds)
from tools.benchmark.common.timing import (interleaved,  # noqa: E402
                                           machine_info)

TRAIN_SIZE = 12406  # CIFAR-10-LT, imbalance ratio 100
TEST_SIZE = 10000
NUM_CLASSES = 10
COUNTS = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
MEAN = [125.307, 122.961, 113.8575]
STD = [51.5865, 50.847, 51.255]


# ----------------------------------------------------------------- models
def vit_arch(dims: int, blocks: int) -> dict:
    return dict(
        embed_dims=dims,
        num_layers=blocks,
        num_heads=max(1, dims // 32),
        feedforward_channels=4 * dims)


def ft_model_cfg(dims: int, blocks: int, patch: int, more: bool) -> dict:
    """The recipe's fine-tuning classifier (or its MORE version)."""
    cfg = dict(
        type='MOREClassifier' if more else 'ImageClassifier',
        data_preprocessor=dict(
            type='ClsDataPreprocessor',
            num_classes=NUM_CLASSES,
            mean=MEAN,
            std=STD,
            to_rgb=False),
        backbone=dict(
            type='VisionTransformer',
            arch=vit_arch(dims, blocks),
            img_size=32,
            patch_size=patch,
            drop_path_rate=0.1,
            out_type='avg_featmap',
            final_norm=False),
        head=dict(
            type='LogitAdjustedBCEHead',
            num_classes=NUM_CLASSES,
            in_channels=dims,
            class_counts=COUNTS,
            loss=dict(type='LogitAdjustedBCELoss', tau=1.0)),
        train_cfg=dict(augments=[
            dict(type='Mixup', alpha=0.8),
            dict(type='CutMix', alpha=1.0)
        ]))
    if more:
        cfg.update(
            rank=8,
            rebalancing_loss=dict(
                type='MORERebalancingLoss',
                distance='l2',
                class_counts=COUNTS),
            rebalance_weight=1.0)
    return cfg


def mae_model_cfg(dims: int, blocks: int, patch: int) -> dict:
    tokens = (32 // patch)**2
    return dict(
        type='MAE',
        data_preprocessor=dict(
            type='SelfSupDataPreprocessor', mean=MEAN, std=STD,
            to_rgb=False),
        backbone=dict(
            type='MAEViT',
            arch=vit_arch(dims, blocks),
            img_size=32,
            patch_size=patch,
            mask_ratio=0.75),
        neck=dict(
            type='MAEPretrainDecoder',
            num_patches=tokens,
            patch_size=patch,
            in_chans=3,
            embed_dim=dims,
            decoder_embed_dim=96,
            decoder_depth=2,
            decoder_num_heads=3,
            mlp_ratio=4.),
        head=dict(
            type='MAEPretrainHead',
            norm_pix=True,
            patch_size=patch,
            loss=dict(type='PixelReconstructionLoss', criterion='L2')))


def build(cfg: dict):
    import mmpretrain_osdtw  # noqa: F401 (registers the plug-in)
    from mmengine.logging import MMLogger
    from mmengine.optim import build_optim_wrapper
    MMLogger.get_instance('recipe_budget', log_level='WARNING')
    from mmpretrain.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    optim = build_optim_wrapper(
        model,
        dict(
            optimizer=dict(
                type='AdamW', lr=1e-4, weight_decay=0.05,
                betas=(0.9, 0.99))))
    return model, optim


def batch(num: int, labelled: bool, seed: int = 0) -> dict:
    """A batch as the recipe's data loader yields it (uint8 images)."""
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(
        0, 256, (num, 3, 32, 32), generator=gen, dtype=torch.uint8)
    samples = [DataSample() for _ in range(num)]
    if labelled:
        labels = torch.randint(0, NUM_CLASSES, (num, ), generator=gen)
        for sample, label in zip(samples, labels):
            sample.set_gt_label(int(label))
    return dict(inputs=images, data_samples=samples)


def step_fns(dims: int, blocks: int, patch: int,
             batch_size: int) -> Dict[str, Callable[[], None]]:
    """One callable per measured workload (``ft``, ``more``, ``mae``,
    ``infer``), each processing one batch."""
    fns = {}
    for name, more in (('ft', False), ('more', True)):
        model, optim = build(ft_model_cfg(dims, blocks, patch, more))
        data = batch(batch_size, True)
        fns[name] = (lambda m=model, o=optim, d=data: m.train_step(d, o))
    model, optim = build(mae_model_cfg(dims, blocks, patch))
    data = batch(batch_size, False)
    fns['mae'] = lambda: model.train_step(data, optim)
    model_ft, _ = build(ft_model_cfg(dims, blocks, patch, False))
    model_ft.eval()
    data_test = batch(256, True)

    def infer():
        with torch.no_grad():
            model_ft.test_step(data_test)

    fns['infer'] = infer
    return fns


def measure(fns: Dict[str, Callable[[], None]], sizes: Dict[str, int],
            rounds: int) -> Dict[str, float]:
    """Images per second of each workload (median over interleaved
    rounds, after one warm-up call)."""
    seconds = interleaved(fns, rounds, warmup=1)
    return {name: sizes[name] / t for name, t in seconds.items()}


# ----------------------------------------------------------------- budget
def plan_seconds(rates: Dict[str, float], epochs: int, mgp_epochs: int,
                 seeds: int, jobs: int, threads_speedup: float,
                 data_share: float, fisher_samples: int) -> Dict[str, float]:
    """Estimated wall seconds of each part of the benchmark
    (:func:`tools.benchmark.common.plan.plan_seconds`), from the measured
    rates.

    A training epoch costs ``TRAIN_SIZE / rate`` model seconds, divided by
    ``1 - data_share`` for the data path, plus a test pass. The Fisher
    passes cost about three backward passes per image (two task passes,
    the cross pass twice the work).
    """
    test = TEST_SIZE / rates['infer']

    def epoch(rate: float) -> float:
        return TRAIN_SIZE / rate / (1.0 - data_share) + test

    costs = UnitCosts(
        ft_epoch=epoch(rates['ft']),
        more_epoch=epoch(rates['more']),
        test=test,
        fisher=fisher_seconds(fisher_samples, rates['ft']),
        mgp=mgp_epochs * TRAIN_SIZE / rates['mae'] / threads_speedup /
        (1.0 - data_share))
    return plan.plan_seconds(costs, epochs, seeds, jobs)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--archs',
        nargs='+',
        default=['64,4,8', '96,6,8', '128,6,8', '192,6,8', '96,6,4'],
        help='candidate ViTs as dims,blocks,patch (32 px images)')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--epochs', type=int, default=20)
    parser.add_argument('--mgp-epochs', type=int, default=200)
    parser.add_argument('--seeds', type=int, default=3)
    parser.add_argument('--jobs', type=int, default=2)
    parser.add_argument(
        '--mgp-speedup',
        type=float,
        default=1.6,
        help='MGP runs alone on --jobs threads: its speed-up over one')
    parser.add_argument('--data-share', type=float, default=0.15)
    parser.add_argument('--fisher-samples', type=int, default=4096)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    print(machine_info(args.threads))
    print(f'plan: {args.seeds} seeds, {args.epochs} epochs per training '
          f'run, {args.mgp_epochs} MGP epochs, {args.jobs} jobs, data share '
          f'{args.data_share:.0%}')
    print('| ViT (dims, blocks, patch) | params | ft img/s | MORE img/s '
          '| MAE img/s | test img/s | MGP h | benchmark h |')
    print('|---|---|---|---|---|---|---|---|')
    for spec in args.archs:
        dims, blocks, patch = (int(x) for x in spec.split(','))
        fns = step_fns(dims, blocks, patch, args.batch_size)
        sizes = dict(
            ft=args.batch_size,
            more=args.batch_size,
            mae=args.batch_size,
            infer=256)
        rates = measure(fns, sizes, args.rounds)
        model, _ = build(ft_model_cfg(dims, blocks, patch, False))
        params = sum(p.numel() for p in model.backbone.parameters())
        parts = plan_seconds(rates, args.epochs, args.mgp_epochs, args.seeds,
                             args.jobs, args.mgp_speedup, args.data_share,
                             args.fisher_samples)
        print(f'| {dims}, {blocks}, {patch} | {params / 1e6:.2f}M | '
              f'{rates["ft"]:.0f} | {rates["more"]:.0f} | '
              f'{rates["mae"]:.0f} | {rates["infer"]:.0f} | '
              f'{parts["mgp"] / 3600:.2f} | {parts["total"] / 3600:.2f} |',
              flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
