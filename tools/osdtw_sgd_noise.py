"""Add the optimisation noise of a second stage-1 seed to a task's stats.

Usage::

    python tools/osdtw_sgd_noise.py work_dirs/stage1_head/fisher_head.pth \
        work_dirs/stage1_head_seed1/epoch_20.pth --task head \
        --out work_dirs/stage1_head/fisher_head_sgd.pth

Writes a copy of the statistics file with ``sgd_noise = 0.5 (theta^(1) -
theta^(2))^2`` per parameter (docs/en/advanced_guides/proxy.md, section 4);
give both tasks' new files to ``tools/osdtw_search.py``. Without a second
seed, the single-run bound ``(theta - theta_0)^2`` from the checkpoint both
stage-1 models started from (section 8)::

    python tools/osdtw_sgd_noise.py work_dirs/stage1_head/fisher_head.pth \
        --from-init work_dirs/mgp/epoch_200.pth --task head \
        --out work_dirs/stage1_head/fisher_head_disp.pth
"""
import argparse
import sys


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Add the SGD noise of a second stage-1 seed to a '
        'fisher_<task>.pth file')
    parser.add_argument('stats', help="the task's fisher_<task>.pth")
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='a checkpoint of the same task trained with another seed')
    parser.add_argument(
        '--from-init',
        metavar='CKPT',
        help='instead: the checkpoint both stage-1 models started from '
        '(the single-run bound (theta - theta_0)^2)')
    parser.add_argument(
        '--task', required=True, choices=('head', 'tail'), help='the task')
    parser.add_argument(
        '--out', required=True, help='the statistics file to write')
    args = parser.parse_args(argv)
    if (args.checkpoint is None) == (args.from_init is None):
        parser.error('give a second-seed CHECKPOINT or --from-init CKPT '
                     '(one of the two)')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmpretrain_osdtw.osdtw.sgd_noise import (add_displacement_noise,
                                                  add_sgd_noise)
    try:
        if args.from_init is not None:
            noise = add_displacement_noise(args.stats, args.task,
                                           args.from_init, args.out)
        else:
            noise = add_sgd_noise(args.stats, args.task, args.checkpoint,
                                  args.out)
    except (FileNotFoundError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    total = sum(float(t.double().sum()) for t in noise.values())
    print(f'{args.out}: sgd_noise for {len(noise)} tensors (sum {total:.4g})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
