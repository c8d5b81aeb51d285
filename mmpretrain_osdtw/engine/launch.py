"""Config loading and Runner construction shared by ``tools/`` (through
:mod:`mmpretrain_osdtw.apis`) and the OSDTW pipeline runner.

Three things differ from MMPretrain's own tools:

* configs are checked up front, so a missing file or a syntax error names
  the file instead of failing deep inside mmengine; such errors, and the
  pre-flight's (:mod:`~mmpretrain_osdtw.apis.preflight`), are an
  :class:`InputError`, which the tools print as one line (exit code 2);
* distributed runs without CUDA (``torchrun ... --launcher pytorch`` on CPU)
  use gloo and an un-pinned ``MMDistributedDataParallel``, because mmengine
  otherwise calls ``torch.cuda.set_device`` and passes ``device_ids``;
* ``persistent_workers`` is only switched on when a loader has workers.
"""
import copy
import gc
import os
import os.path as osp
from typing import Callable, Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, ConfigDict
from mmengine.runner import Runner
from mmpretrain.registry import RUNNERS

from mmpretrain_osdtw.utils import InputError

DATALOADER_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
#: The clear-message errors of :func:`load_config` and of a tool applying
#: its command line to a config (each names the file, key or flag).
CONFIG_ERRORS = (FileNotFoundError, SyntaxError, KeyError, TypeError,
                 ImportError, RuntimeError)


def load_cli_config(path: str, apply_args: Callable[[Config],
                                                    Config]) -> Config:
    """Load a config and apply a tool's command line to it.

    Args:
        path (str): Path of the config file.
        apply_args (Callable): Applies the command line, returns the config.

    Returns:
        Config: The config.

    Raises:
        InputError: On any of :data:`CONFIG_ERRORS`.
    """
    try:
        return apply_args(load_config(path))
    except CONFIG_ERRORS as err:
        # str() of a KeyError is the repr of its message: take the message.
        message = err.args[0] if isinstance(err, KeyError) and err.args \
            else str(err)
        raise InputError(message) from err


def load_config(path: str) -> Config:
    """Load a config file with a clear error for the common mistakes.

    Args:
        path (str): Path of the config file.

    Returns:
        Config: The loaded config.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path!r} does not exist')
    try:
        return Config.fromfile(path)
    except SyntaxError as err:
        raise SyntaxError(
            f'config {path!r} line {err.lineno}: {err.msg}') from err
    except (KeyError, TypeError, FileNotFoundError, ImportError) as err:
        raise type(err)(f'cannot load config {path!r}: {err}') from err


def set_default_dataloader_cfg(cfg: Config,
                               pin_memory: bool = True,
                               persistent_workers: bool = True) -> None:
    """Fill the dataloader defaults MMPretrain's tools use.

    ``persistent_workers`` is only enabled for loaders with
    ``num_workers > 0`` (torch refuses it otherwise).

    Args:
        cfg (Config): The config, changed in place.
        pin_memory (bool): Default for ``pin_memory``.
        persistent_workers (bool): Default for ``persistent_workers``.
    """
    for key in DATALOADER_KEYS:
        loader = cfg.get(key, None)
        if loader is None:
            continue
        merged = ConfigDict(
            pin_memory=pin_memory and torch.cuda.is_available(),
            persistent_workers=persistent_workers,
            collate_fn=dict(type='default_collate'))
        merged.update(loader)
        if merged.get('num_workers', 0) == 0:
            merged['persistent_workers'] = False
        cfg[key] = merged


def prepare_distributed(cfg: Config, launcher: str) -> None:
    """Make ``--launcher pytorch`` work with and without CUDA.

    With CUDA, mmengine's own NCCL setup is kept. Without CUDA, the process
    group is initialised with gloo here, before the Runner is built, and
    the model wrapper is told not to pin devices.

    Args:
        cfg (Config): The config, changed in place.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
    """
    cfg.launcher = launcher
    if launcher == 'none' or torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    env_cfg.setdefault('dist_cfg', ConfigDict())
    env_cfg.dist_cfg['backend'] = 'gloo'
    wrapper = copy.deepcopy(cfg.get('model_wrapper_cfg', None)) or ConfigDict(
        type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    wrapper.setdefault('broadcast_buffers', False)
    cfg.model_wrapper_cfg = wrapper
    if launcher == 'pytorch' and not torch_dist.is_initialized():
        missing = [
            k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
            if k not in os.environ
        ]
        if missing:
            raise RuntimeError(
                '--launcher pytorch needs the torchrun environment; missing '
                f'{", ".join(missing)}. Start with `torchrun --nproc_per_node '
                'N tools/train.py CONFIG --launcher pytorch`.')
        torch_dist.init_process_group(backend='gloo')


def release_distributed() -> None:
    """Collect the finished run's objects, wait for every rank, then
    destroy the default process group.

    mmengine leaves the group alive when a run ends, and the DDP wrapper's
    reducer keeps its own reference to the gloo backend: while the Runner
    (a reference cycle with its hooks) is still uncollected,
    ``destroy_process_group`` frees nothing, and the backend's threads are
    torn down at interpreter shutdown, where a process can abort
    ("terminate called without an active exception", exit code -6) although
    its work is done (about 1 run in 12 of the 2-rank test before this
    collection). Drop every reference to the Runner first, then call it
    after a run that finished normally (every rank reaches the barrier).
    Does nothing without ``torch.distributed``.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        gc.collect()  # the Runner's cycle, and with it the DDP reducer
        torch_dist.barrier()
        torch_dist.destroy_process_group()


def is_pipeline(cfg: Config) -> bool:
    """Whether ``cfg`` is an OSDTW pipeline config
    (``train_cfg.type='StageRunner'``)."""
    return (cfg.get('train_cfg') or {}).get('type') == 'StageRunner'


def enable_amp(cfg: Config) -> None:
    """Train ``cfg`` with mixed precision: its ``optim_wrapper`` becomes an
    ``AmpOptimWrapper`` with a dynamic loss scale (unless it sets one).

    Args:
        cfg (Config): A training config, changed in place.
    """
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def build_runner(cfg: Config) -> Runner:
    """Build the Runner named by ``runner_type`` (default mmengine's),
    looked up in MMPretrain's registry (then mmengine's).

    Args:
        cfg (Config): A complete config.

    Returns:
        Runner: The runner.
    """
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def resolve_work_dir(cfg: Config, config_path: str,
                     work_dir: Optional[str]) -> None:
    """Set ``cfg.work_dir``: CLI first, then the config, then
    ``./work_dirs/<config name>`` (MMPretrain's rule).

    Args:
        cfg (Config): The config, changed in place.
        config_path (str): Path of the config file.
        work_dir (str, optional): The ``--work-dir`` argument.
    """
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])
