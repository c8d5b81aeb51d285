"""Train a model (or run the whole OSDTW pipeline) from an MMPretrain config.

Usage::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--no-validate] [--auto-scale-lr] [--init-backbone CKPT] [--verbose]
        [--trust-checkpoint] [--cfg-options k=v ...]
        [--launcher {none,pytorch,slurm,mpi}]

Checkpoints (``--resume``, ``--init-backbone``, ``load_from``, init
checkpoints) load with ``weights_only=True`` and mmengine's own types
allow-listed; a file that holds anything else is refused with one line
naming it, unless ``--trust-checkpoint`` is given.

The console shows warnings, errors, the log file's path, a progress line at
most once a minute and, at the end, the last validation's Many/Medium/Few
table; a pipeline config's shows one line when each step starts and one
when it ends, and the final report. The full log goes to the log file
(``work_dir/<timestamp>/<timestamp>.log``, a pipeline's to each step's
folder); ``--verbose`` shows it on the console too. A run that fails on a
config or input error before it trains leaves no log folder behind.

The command line and the paths it names are checked before torch and
mmengine load (``tools/tool_cli.py``): ``--help`` and a misspelled config
or checkpoint answer at once, the latter with the closest existing path.
Without ``OMP_NUM_THREADS`` a machine with at most 2 usable CPUs trains
with one thread (see ``tools/tool_cli.py``); set it to choose. Ctrl-C or
SIGTERM ends the run with one line, e.g.
``interrupted in stage2, epoch 3; rerun the same command to resume``, and
exit code 130 (a single config resumes with ``--resume``).

Fine-tuning from an MGP (MAE) checkpoint: ``--init-backbone CKPT`` starts
every backbone of the model (both task models of a ``TaskPairClassifier``,
the encoder and both decoders of a ``DualDecoderClassifier``, MORE's base
weights) from the ``backbone.*`` weights of CKPT; on a pipeline config it
sets ``train_cfg.init_backbone`` (the stages that train from their
initialisation start from CKPT).

Several processes (CUDA with NCCL, or CPU with gloo)::

    torchrun --nproc_per_node 2 tools/train.py CONFIG --launcher pytorch
"""
import argparse
import sys
from typing import List, Optional

from tool_cli import (LazyDictAction, add_common_args, config_name,
                      first_missing, parse, set_default_threads)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint, or (no value) from the latest '
        'checkpoint in the work directory')
    parser.add_argument(
        '--amp', action='store_true', help='mixed-precision training (GPU)')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by the actual batch size / auto_scale_lr.base_'
        'batch_size')
    parser.add_argument(
        '--init-backbone',
        metavar='CKPT',
        help="start every backbone of the model from CKPT's `backbone.*` "
        'weights (an MGP/MAE checkpoint); applied before --cfg-options')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='disable pin_memory in the dataloaders')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='disable persistent_workers in the dataloaders')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=LazyDictAction,
        help='override config keys, e.g. train_cfg.max_epochs=3 '
        'optim_wrapper.optimizer.lr=1e-3')
    add_common_args(parser)
    return parse(parser, argv)


def missing_input(args: argparse.Namespace) -> Optional[str]:
    """The one line for the first path of the command line that is not a
    file (URLs of ``--init-backbone`` are left to mmengine), or None."""
    checks = [(args.config, 'config file', '.py')]
    for option, path in (('--resume', args.resume),
                         ('--init-backbone', args.init_backbone)):
        if path not in (None, 'auto') and '://' not in path:
            checks.append((path, f'{option}: checkpoint', '.pth', True))
    return first_missing(checks)


def merge_args(cfg, args):
    """Apply the command-line arguments to the config."""
    from mmpretrain_osdtw.apis import (enable_amp, is_pipeline,
                                       prepare_distributed, resolve_work_dir,
                                       set_default_dataloader_cfg)
    from mmpretrain_osdtw.engine.runner.quiet_console_runner import \
        use_quiet_console
    from mmpretrain_osdtw.models.utils import set_backbone_init
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    resolve_work_dir(cfg, args.config, args.work_dir)
    if args.amp and is_pipeline(cfg):
        cfg.train_cfg.amp = True  # every stage config
    elif args.amp:
        enable_amp(cfg)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise KeyError(f'--auto-scale-lr needs `auto_scale_lr=dict('
                           f'base_batch_size=...)` in {args.config}')
        cfg.auto_scale_lr.enable = True
    if not is_pipeline(cfg):
        use_quiet_console(cfg, args.verbose)
    elif args.verbose:
        cfg.train_cfg.verbose = True
    if args.init_backbone is not None:
        if is_pipeline(cfg):
            cfg.train_cfg.init_backbone = args.init_backbone
        else:
            set_backbone_init(cfg.model, args.init_backbone)
    set_default_dataloader_cfg(
        cfg,
        pin_memory=not args.no_pin_memory,
        persistent_workers=not args.no_persistent_workers)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    prepare_distributed(cfg, args.launcher)
    return cfg


def interrupted_line(err: KeyboardInterrupt, args, cfg, runner) -> str:
    """The one line of an interrupted run: where (the pipeline step, or
    the config's name and epoch) and how to resume."""
    from mmpretrain_osdtw.apis import is_pipeline
    from mmpretrain_osdtw.utils import Interrupted, epoch_in_progress
    if not isinstance(err, Interrupted):
        err = Interrupted(config_name(args.config), epoch_in_progress(runner))
    if cfg is None or is_pipeline(cfg) or cfg.get('resume'):
        return err.describe()
    return err.describe('rerun the same command with --resume to resume')


def validation_table(runner, args: argparse.Namespace) -> Optional[str]:
    """The Many/Medium/Few table of a single config's last validation
    (None without one, or without ``ShotGroupMetric``)."""
    from mmpretrain_osdtw.evaluation import format_shot_table
    metrics = {
        key[len('val/'):]: buffer.current()
        for key, buffer in runner.message_hub.log_scalars.items()
        if key.startswith('val/')
    }
    if not metrics:
        return None
    row = f'{config_name(args.config)} (validation, epoch {runner.epoch})'
    return format_shot_table({row: metrics})


def train(args: argparse.Namespace) -> int:
    """Load, check and train the config (torch, mmengine and the plug-in
    are imported here, once the command line is checked)."""
    from mmengine.dist import is_main_process

    import mmpretrain_osdtw  # noqa: F401  (registers components, stack fixes)
    from mmpretrain_osdtw.apis import (InputError, build_runner, is_pipeline,
                                       load_cli_config, preflight,
                                       release_distributed)
    from mmpretrain_osdtw.engine.runner.log_cleanup import \
        discard_logs_on_input_error
    from mmpretrain_osdtw.engine.runner.quiet_console_runner import \
        log_file_line
    from mmpretrain_osdtw.utils import (INTERRUPTED_EXIT_CODE,
                                        describe_write_error,
                                        raise_on_signals, trust_checkpoints)
    trust_checkpoints(args.trust_checkpoint)
    raise_on_signals()
    cfg = runner = None
    try:
        cfg = load_cli_config(args.config, lambda cfg: merge_args(cfg, args))
        preflight(cfg, mode='train')
        with discard_logs_on_input_error(cfg.work_dir):
            runner = build_runner(cfg)
            if not is_pipeline(cfg):
                log_file_line(runner)
            runner.train()
        table = None if is_pipeline(cfg) else validation_table(runner, args)
        if table and is_main_process():
            print(table)
        runner = None  # collected by release_distributed()
    except InputError as err:  # a config or data error: one line, no trace
        print(f'error: {err}', file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # SIGINT / SIGTERM: one line, no trace
        print(interrupted_line(err, args, cfg, runner), file=sys.stderr)
        return INTERRUPTED_EXIT_CODE
    except (OSError, RuntimeError) as err:  # a read-only or full disk
        line = describe_write_error(err)
        if line is None:
            raise
        print(f'error: {line}', file=sys.stderr)
        return 1
    release_distributed()
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    missing = missing_input(args)
    if missing is not None:  # before the imports of train(): at once
        print(f'error: {missing}', file=sys.stderr)
        return 2
    set_default_threads()
    return train(args)


if __name__ == '__main__':
    sys.exit(main())
