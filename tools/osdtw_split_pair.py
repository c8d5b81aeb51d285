"""OSDTW stage 1 by hand, after ``stage1_pair.py``: the two task models.

Usage::

    python tools/train.py configs/osdtw/<dataset>/stage1_pair.py \
        --work-dir work_dirs/stage1_pair
    python tools/osdtw_split_pair.py configs/osdtw/<dataset>/stage1_pair.py \
        work_dirs/stage1_pair/epoch_N.pth --out-dir work_dirs/stage1

Writes ``head_from_pair.pth`` and ``tail_from_pair.pth`` (plain
``ImageClassifier`` checkpoints of the two task models) and, unless
``--no-fisher``, each task's statistics file with the ``FisherHook`` of its
stage-1 config (``stage1_head.py`` / ``stage1_tail.py`` next to the pair
config unless ``--head-config`` / ``--tail-config``): what the pipeline's
``stage1_head`` / ``stage1_tail`` steps do with ``train_cfg.stage1_pair``.
"""
import argparse
import os
import os.path as osp
import sys

from tool_cli import add_trust_checkpoint

TASKS = ('head', 'tail')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Split a stage-1 TaskPairClassifier checkpoint')
    parser.add_argument('config', help='the stage1_pair.py config')
    parser.add_argument('checkpoint', help='its trained checkpoint')
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument(
        '--head-config', help='stage-1 head config (default: stage1_head.py '
        'next to the pair config)')
    parser.add_argument(
        '--tail-config', help='stage-1 tail config (default: stage1_tail.py '
        'next to the pair config)')
    parser.add_argument(
        '--no-fisher',
        dest='fisher',
        action='store_false',
        help='only split the checkpoint')
    add_trust_checkpoint(parser)
    return parser.parse_args(argv)


def task_configs(args) -> dict:
    """The two stage-1 configs, checked to exist."""
    folder = osp.dirname(osp.abspath(args.config))
    out = {}
    for task in TASKS:
        path = getattr(args, f'{task}_config') or osp.join(
            folder, f'stage1_{task}.py')
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'the {task} config {path!r} does not exist (give '
                f'--{task}-config)')
        out[task] = path
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        for path in (args.config, args.checkpoint):
            if not osp.isfile(path):
                raise FileNotFoundError(f'{path!r} does not exist')
        configs = task_configs(args)
        from mmengine.logging import MMLogger

        import mmpretrain_osdtw  # noqa: F401
        from mmpretrain_osdtw.apis import load_config
        from mmpretrain_osdtw.apis import task_fisher_from_config
        from mmpretrain_osdtw.models.classifiers import \
            split_task_pair_checkpoint
        from mmpretrain_osdtw.utils import trust_checkpoints
        trust_checkpoints(args.trust_checkpoint)
        os.makedirs(args.out_dir, exist_ok=True)
        logger = MMLogger.get_instance('osdtw_split_pair')
        for task in TASKS:
            ckpt = split_task_pair_checkpoint(
                args.checkpoint, task,
                osp.join(args.out_dir, f'{task}_from_pair.pth'))
            print(f'{task} model: {ckpt}')
            if args.fisher:
                stats = task_fisher_from_config(
                    load_config(configs[task]), ckpt, args.out_dir, logger)
                print(f'{task} statistics: {stats}')
    except (FileNotFoundError, KeyError, ValueError, TypeError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
