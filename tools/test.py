"""Evaluate a checkpoint and print the long-tailed benchmark table.

Usage::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
        [--out-item {metrics,pred}] [--tta] [--show-dir DIR]
        [--trust-checkpoint] [--cfg-options k=v ...]
        [--launcher {none,pytorch,slurm,mpi}]

The checkpoint loads with ``weights_only=True`` and mmengine's own types
allow-listed; one that holds anything else is refused with one line naming
it, unless ``--trust-checkpoint`` is given.
"""
import argparse
import os
import os.path as osp
import sys
from copy import deepcopy

import mmengine
from mmengine.config import ConfigDict, DictAction
from mmengine.evaluator import DumpResults

import mmpretrain_osdtw  # noqa: F401  (registers components, stack fixes)
from mmpretrain_osdtw.apis import (InputError, build_runner, load_cli_config,
                                   preflight, prepare_distributed,
                                   release_distributed, resolve_work_dir,
                                   set_default_dataloader_cfg)
from mmpretrain_osdtw.evaluation import format_shot_table
from mmpretrain_osdtw.utils import trust_checkpoints


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where the test logs go')
    parser.add_argument('--out', help='dump predictions or metrics here')
    parser.add_argument(
        '--out-item',
        choices=['metrics', 'pred'],
        help='what --out holds (default: predictions)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. test_dataloader.batch_size=64')
    parser.add_argument('--amp', action='store_true', help='fp16 test (GPU)')
    parser.add_argument(
        '--show-dir', help='save visualised predictions in this folder')
    parser.add_argument(
        '--show', action='store_true', help='show predictions in a window')
    parser.add_argument(
        '--interval', type=int, default=1, help='visualisation interval')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='display time (s)')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='disable pin_memory in the dataloader')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test-time augmentation: the config\'s tta_model/tta_pipeline, '
        'or flip averaging')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='load checkpoints that hold more than tensors and mmengine\'s '
        'own types (weights_only=False: it may run code from the file); '
        'only for files from a source you trust')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if args.out is None and args.out_item is not None:
        parser.error('--out-item needs --out')
    return args


def enable_visualization(cfg, args) -> None:
    """Switch on MMPretrain's VisualizationHook for --show/--show-dir."""
    if 'visualization' not in cfg.get('default_hooks', {}):
        raise KeyError('--show/--show-dir need `default_hooks.visualization='
                       'dict(type="VisualizationHook")` in the config')
    vis = cfg.default_hooks.visualization
    vis.update(
        enable=True,
        show=args.show,
        wait_time=args.wait_time,
        out_dir=args.show_dir,
        interval=args.interval)


def enable_tta(cfg) -> None:
    """Wrap the model for test-time augmentation (flip by default)."""
    if 'tta_model' not in cfg:
        cfg.tta_model = dict(type='mmpretrain.AverageClsScoreTTA')
    if 'tta_pipeline' not in cfg:
        test_pipeline = cfg.test_dataloader.dataset.pipeline
        cfg.tta_pipeline = deepcopy(test_pipeline)
        cfg.tta_pipeline[-1] = dict(
            type='TestTimeAug',
            transforms=[[
                dict(type='RandomFlip', prob=1.),
                dict(type='RandomFlip', prob=0.)
            ], [test_pipeline[-1]]])
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def merge_args(cfg, args):
    """Apply the command-line arguments to the config."""
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(
            f'checkpoint {args.checkpoint!r} does not exist')
    if cfg.get('test_dataloader', None) is None:
        raise KeyError(f'{args.config} has no test_dataloader')
    resolve_work_dir(cfg, args.config, args.work_dir)
    cfg.load_from = args.checkpoint
    if args.amp:
        cfg.test_cfg.fp16 = True
    if args.show or args.show_dir is not None:
        enable_visualization(cfg, args)
    if args.tta:
        enable_tta(cfg)
    set_default_dataloader_cfg(
        cfg, pin_memory=not args.no_pin_memory, persistent_workers=False)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    prepare_distributed(cfg, args.launcher)
    return cfg


def main() -> int:
    args = parse_args()
    trust_checkpoints(args.trust_checkpoint)
    try:
        cfg = load_cli_config(args.config, lambda cfg: merge_args(cfg, args))
        preflight(cfg, mode='test')
        runner = build_runner(cfg)
        if args.out and args.out_item in ('pred', None):
            runner.test_evaluator.metrics.append(
                DumpResults(out_file_path=args.out))
        metrics = runner.test()
    except InputError as err:  # a config or data error: one line, no trace
        print(f'error: {err}', file=sys.stderr)
        return 2
    if args.out and args.out_item == 'metrics':
        mmengine.dump(metrics, args.out)
    if runner.rank == 0:
        name = osp.splitext(osp.basename(args.config))[0]
        table = format_shot_table({name: metrics})
        if table:
            print(table)
    del runner  # collected by release_distributed()
    release_distributed()
    return 0


if __name__ == '__main__':
    sys.exit(main())
