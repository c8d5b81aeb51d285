"""Extra training cost of MORE per step: (MORE step time) / (plain step).

A MORE step runs the full path, the general path (a second forward on the
same batch) and the backward through both, on a model with the low-rank
tail factors. This script times training steps (forward, backward,
optimizer update) of a tiny ViT on CPU, with and without MORE, interleaving
the two in rounds and taking the median, and prints the ratio::

    python tools/benchmark/more_step_cost.py [--steps 20] [--rounds 5]
        [--batch-size 32] [--rank 8] [--detach-general] [--threads 1]

The number is for this machine and this model size only; the inference
cost after merging is that of the plain model by construction.
"""
import argparse
import os.path as osp
import sys

import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:  # run as a file: the repository's packages first
    sys.path.insert(0, REPO)
import mmpretrain_osdtw  # noqa: F401,E402  (registers the MORE classifier)
from tools.benchmark.common.timing import interleaved  # noqa: E402
from tools.benchmark.common.training import loss_step  # noqa: E402

NUM_CLASSES = 10
BACKBONE = dict(
    type='VisionTransformer',
    arch=dict(
        embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=128),
    img_size=32,
    patch_size=4,
    drop_rate=0.0)
HEAD = dict(
    type='VisionTransformerClsHead',
    num_classes=NUM_CLASSES,
    in_channels=64,
    init_cfg=None,
    loss=dict(type='CrossEntropyLoss'))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--steps', type=int, default=20, help='timed steps per round')
    parser.add_argument(
        '--rounds',
        type=int,
        default=5,
        help='rounds (plain and MORE alternate)')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--rank', type=int, default=8)
    parser.add_argument(
        '--detach-general',
        action='store_true',
        help='stop-gradient variant of the general path')
    parser.add_argument('--threads', type=int, default=1)
    return parser.parse_args()


def build_models(rank: int, detach_general: bool):
    """The plain classifier and its MORE version with the same weights."""
    torch.manual_seed(0)
    plain = MODELS.build(
        dict(type='ImageClassifier', backbone=BACKBONE, head=HEAD))
    more = MODELS.build(
        dict(
            type='MOREClassifier',
            backbone=BACKBONE,
            head=HEAD,
            rank=rank,
            detach_general=detach_general,
            rebalancing_loss=dict(
                type='MORERebalancingLoss',
                class_counts=[
                    2**(NUM_CLASSES - c) for c in range(NUM_CLASSES)
                ]),
            rebalance_weight=1.0))
    more.load_state_dict(plain.state_dict(), strict=False)
    return plain.train(), more.train()


def make_steps(model: torch.nn.Module, inputs, samples):
    """``run(steps)``: that many training steps (forward, backward, AdamW
    update) of ``model`` on one batch."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def run(steps: int) -> None:
        for _ in range(steps):
            loss_step(model, optimizer, inputs, samples)

    return run


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    plain, more = build_models(args.rank, args.detach_general)
    inputs = torch.randn(args.batch_size, 3, 32, 32)
    samples = [
        DataSample().set_gt_label(i % NUM_CLASSES)
        for i in range(args.batch_size)
    ]
    runs = {
        'plain': make_steps(plain, inputs, samples),
        'more': make_steps(more, inputs, samples)
    }
    for run in runs.values():  # warm-up
        run(3)
    rounds = interleaved(
        {name: lambda r=run: r(args.steps)
         for name, run in runs.items()},
        args.rounds,
        warmup=0)
    median = {name: t / args.steps for name, t in rounds.items()}
    n_plain = sum(p.numel() for p in plain.parameters())
    n_more = sum(p.numel() for p in more.parameters())
    print(f'tiny ViT (64 dims, 4 blocks, 32x32, batch {args.batch_size}), '
          f'rank {args.rank}, detach_general={args.detach_general}, '
          f'{args.threads} thread(s)')
    print(f'parameters: plain {n_plain}, MORE {n_more} '
          f'(+{n_more - n_plain}, {len(more.low_rank_names)} layers)')
    print(f'step time: plain {median["plain"] * 1e3:.1f} ms, '
          f'MORE {median["more"] * 1e3:.1f} ms')
    print(f'MORE/plain step-time ratio: '
          f'{median["more"] / median["plain"]:.2f}')


if __name__ == '__main__':
    main()
