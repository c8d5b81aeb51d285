"""Evaluate a checkpoint and print the long-tailed benchmark table.

Usage::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
        [--out-item {metrics,pred}] [--tta] [--show-dir DIR] [--verbose]
        [--trust-checkpoint] [--cfg-options k=v ...]
        [--launcher {none,pytorch,slurm,mpi}]

The checkpoint loads with ``weights_only=True`` and mmengine's own types
allow-listed; one that holds anything else is refused with one line naming
it, unless ``--trust-checkpoint`` is given.

The logs go beside the checkpoint, to ``<checkpoint's folder>/test_<config
name>/<timestamp>/`` (``work_dirs/test_<config name>/`` when that folder is
read-only; ``--work-dir DIR``: ``DIR/<timestamp>/``); the
console shows warnings, errors, the log file's path, a progress line at
most once a minute and the Many/Medium/Few table (``--verbose``: mmengine's
full log too). The command line, the config and the checkpoint are checked
before torch and mmengine load (``tools/tool_cli.py``): a misspelled path
answers at once with the closest existing one and, for the checkpoint, the
checkpoints of its folder.
"""
import argparse
import sys
from copy import deepcopy
from typing import List, Optional

from tool_cli import (LazyDictAction, add_common_args, config_name,
                      first_missing, parse, set_default_threads,
                      default_test_work_dir)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='where the test logs go (default: test_<config name> beside '
        'the checkpoint)')
    parser.add_argument('--out', help='dump predictions or metrics here')
    parser.add_argument(
        '--out-item',
        choices=['metrics', 'pred'],
        help='what --out holds (default: predictions)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=LazyDictAction,
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
    add_common_args(parser)
    args = parse(parser, argv)
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
    from mmengine.config import ConfigDict
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
    from mmpretrain_osdtw.apis import (prepare_distributed,
                                       set_default_dataloader_cfg)
    from mmpretrain_osdtw.engine.runner.quiet_console_runner import \
        use_quiet_console
    if cfg.get('test_dataloader', None) is None:
        raise KeyError(f'{args.config} has no test_dataloader')
    cfg.work_dir = args.work_dir or default_test_work_dir(
        args.config, args.checkpoint)
    use_quiet_console(cfg, args.verbose)
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


def evaluate(args: argparse.Namespace) -> int:
    """Load, check and evaluate (torch, mmengine and the plug-in are
    imported here, once the command line is checked)."""
    import mmengine
    from mmengine.evaluator import DumpResults

    import mmpretrain_osdtw  # noqa: F401  (registers components, stack fixes)
    from mmpretrain_osdtw.apis import (InputError, build_runner,
                                       load_cli_config, preflight,
                                       release_distributed)
    from mmpretrain_osdtw.engine.runner.log_cleanup import \
        discard_logs_on_input_error
    from mmpretrain_osdtw.engine.runner.quiet_console_runner import \
        log_file_line
    from mmpretrain_osdtw.evaluation import format_shot_table
    from mmpretrain_osdtw.utils import trust_checkpoints
    trust_checkpoints(args.trust_checkpoint)
    try:
        cfg = load_cli_config(args.config, lambda cfg: merge_args(cfg, args))
        preflight(cfg, mode='test')
        with discard_logs_on_input_error(cfg.work_dir):
            runner = build_runner(cfg)
            log_file_line(runner)
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
        table = format_shot_table({config_name(args.config): metrics})
        if table:
            print(table)
    del runner  # collected by release_distributed()
    release_distributed()
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    missing = first_missing([(args.config, 'config file', '.py'),
                             (args.checkpoint, 'checkpoint', '.pth', True)])
    if missing is not None:  # before the imports of evaluate(): at once
        print(f'error: {missing}', file=sys.stderr)
        return 2
    set_default_threads()
    return evaluate(args)


if __name__ == '__main__':
    sys.exit(main())
