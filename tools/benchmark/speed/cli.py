"""Speed of the OSDTW plug-in vs its baselines, as ratios from one run.

The command line of :mod:`tools.benchmark.speed`: one subcommand per
benchmark, ``all`` for every one in turn; the results as JSON with
``--json``.
"""
import argparse
import json

import torch

from . import runtime
from .data import bench_data
from .decoder import bench_decoder
from .fisher import bench_fisher
from .head import bench_head
from .pipeline import bench_pipeline
from .proxy import bench_proxy

BENCHES = dict(
    fisher=bench_fisher,
    proxy=bench_proxy,
    head=bench_head,
    decoder=bench_decoder,
    pipeline=bench_pipeline,
    data=bench_data)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='python -m tools.benchmark.speed',
        description=__doc__.splitlines()[0])
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
    runtime.set_device(args.device)
    torch.set_num_threads(args.threads)
    import mmpretrain_osdtw  # noqa: F401  (registers the plug-in)
    print(runtime.machine_info(args.threads))
    names = list(BENCHES) if args.bench == 'all' else [args.bench]
    results = {}
    for name in names:
        results[name] = BENCHES[name](args)
    print('\n' + runtime.machine_info(args.threads))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1, default=str)
    return 0
