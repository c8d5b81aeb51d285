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

A pipeline config's console shows one line when each step starts and one
when it ends; every step's full log goes to its folder (``--verbose``: to
the console too). Ctrl-C or SIGTERM ends the run with one line, e.g.
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
import os
import os.path as osp
import sys

from mmengine.config import DictAction

import mmpretrain_osdtw  # noqa: F401  (registers components, stack fixes)
from mmpretrain_osdtw.apis import (InputError, build_runner, enable_amp,
                                   is_pipeline, load_cli_config, preflight,
                                   prepare_distributed, release_distributed,
                                   resolve_work_dir,
                                   set_default_dataloader_cfg)
from mmpretrain_osdtw.models.utils import set_backbone_init
from mmpretrain_osdtw.utils import (INTERRUPTED_EXIT_CODE, Interrupted,
                                    describe_write_error, epoch_in_progress,
                                    raise_on_signals, trust_checkpoints)


def parse_args() -> argparse.Namespace:
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
        '--verbose',
        action='store_true',
        help="a pipeline config: show every step's full log on the console "
        '(by default it goes to the log file in the step folder)')
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
        action=DictAction,
        help='override config keys, e.g. train_cfg.max_epochs=3 '
        'optim_wrapper.optimizer.lr=1e-3')
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
    return args


def merge_args(cfg, args):
    """Apply the command-line arguments to the config."""
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
    if args.verbose and is_pipeline(cfg):
        cfg.train_cfg.verbose = True
    elif args.verbose and cfg.get('runner_type') == 'QuietConsoleRunner':
        cfg.runner_type = 'Runner'  # mmengine's: everything on the console
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
    if not isinstance(err, Interrupted):
        name = osp.splitext(osp.basename(args.config))[0]
        err = Interrupted(name, epoch_in_progress(runner))
    if cfg is None or is_pipeline(cfg) or cfg.get('resume'):
        return err.describe()
    return err.describe('rerun the same command with --resume to resume')


def main() -> int:
    args = parse_args()
    trust_checkpoints(args.trust_checkpoint)
    raise_on_signals()
    cfg = runner = None
    try:
        cfg = load_cli_config(args.config, lambda cfg: merge_args(cfg, args))
        preflight(cfg, mode='train')
        runner = build_runner(cfg)
        runner.train()
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


if __name__ == '__main__':
    sys.exit(main())
