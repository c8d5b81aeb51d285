"""A task model's Fisher pass, from its settings to ``fisher_<task>.pth``.

:class:`TaskFisherJob` holds the settings (``FisherHook``'s arguments) and
runs the pass: :class:`~mmpretrain_osdtw.engine.hooks.FisherHook` after
training, :func:`task_fisher_from_config` for a model trained elsewhere
(the task models of a ``TaskPairClassifier``), from the ``FisherHook``
entry of its config and a checkpoint.
"""
import os.path as osp
import time
from dataclasses import dataclass
from typing import Iterable, Optional, Union

from mmengine.device import get_device
from mmengine.dist import barrier, is_main_process
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from mmpretrain.registry import DATASETS
from torch import nn

from mmpretrain_osdtw.models.utils import build_model
from mmpretrain_osdtw.utils import check_int, naming_file
from .data import build_fisher_loader, with_progress
from .model_parts import task_head
from .statistics import fisher_statistics
from .task_stats import TaskStats

_OWNER = 'FisherHook: '


@dataclass
class TaskFisherJob:
    """The Fisher pass of a task model and where it writes.

    The (unwrapped) model runs in eval mode over the training images read
    with the TEST pipeline, and
    :func:`~.statistics.fisher_statistics` averages the per-sample squared
    gradients of the task's log-likelihood loss (``v``: true labels,
    ``h``: labels drawn from the model). Rank 0 writes :class:`TaskStats`.

    Args:
        out_file (str): File name under ``work_dir`` (or an absolute path);
            ``{task}`` becomes ``'head'``/``'tail'``. Defaults to
            ``'fisher_{task}.pth'``.
        dataloader (dict | DataLoader, optional): The Fisher pass data.
            Defaults to None: the training set with the test pipeline
            (:func:`~.data.fisher_dataloader_cfg`). With other data (a
            subset, for speed) the proxy's ``N`` stays the training set's
            size: the file records it as ``train_size``.
        chunk_size (int): Samples per ``vmap`` call (memory bound).
            Defaults to 32.
        num_model_samples (int): Label draws per sample for ``h``.
            Defaults to 1.
        seed (int): Seed of the label draws. Defaults to 0.
        max_samples (int, optional): Average over at most this many samples
            (all ranks together): the first ones of the loader's sampler,
            a random subset fixed by the run's seed when it shuffles (the
            default loader keeps the training sampler). The pass costs
            time in proportion; the proxy's ``N`` stays the training set's
            size (``train_size``). Defaults to None (every sample).

    Example:
        >>> job = TaskFisherJob(chunk_size=16)
        >>> job.out_file.format(task='head')
        'fisher_head.pth'
    """
    out_file: str = 'fisher_{task}.pth'
    dataloader: Optional[Union[dict, Iterable]] = None
    chunk_size: int = 32
    num_model_samples: int = 1
    seed: int = 0
    max_samples: Optional[int] = None

    def __post_init__(self) -> None:
        if '{task}' not in self.out_file and \
                not self.out_file.endswith('.pth'):
            raise ValueError('FisherHook: out_file must end with .pth or '
                             f'contain {{task}}, got {self.out_file!r}')
        check_int('chunk_size', self.chunk_size, 1, _OWNER)
        check_int('num_model_samples', self.num_model_samples, 1, _OWNER)
        check_int('seed', self.seed, 0, _OWNER)
        if self.max_samples is not None:
            check_int('max_samples', self.max_samples, 1, _OWNER)

    @classmethod
    def from_config(cls, cfg) -> 'TaskFisherJob':
        """The job of the first ``FisherHook`` in ``cfg.custom_hooks``.

        Raises:
            KeyError: If the config has no ``FisherHook``.
        """
        entries = [
            h for h in cfg.get('custom_hooks', []) or []
            if 'FisherHook' in (h.get('type'),
                                getattr(h.get('type'), '__name__', None))
        ]
        if not entries:
            raise KeyError(f'{cfg.filename}: no FisherHook in custom_hooks')
        kwargs = dict(entries[0])
        kwargs.pop('type')
        kwargs.pop('priority', None)
        return cls(**kwargs)

    def build_loader(self, cfg, seed: Optional[int]) -> Iterable:
        """The pass's data for the training config ``cfg``, the sampler
        seeded with ``seed`` (the run's seed)."""
        return build_fisher_loader(
            cfg, self.dataloader, seed, shuffle=self.max_samples is not None)

    def run(self, model: nn.Module, loader: Iterable, work_dir: str,
            train_size: Optional[int], logger) -> str:
        """Compute, check and save the statistics of the model's task.

        Args:
            model (nn.Module): The trained task model (unwrapped).
            loader (Iterable): The Fisher pass data.
            work_dir (str): Where a relative ``out_file`` goes.
            train_size (int, optional): The training set's size (the
                proxy's ``N``), recorded as ``train_size``.
            logger: Where the summary line goes.

        Returns:
            str: The file written.
        """
        task = task_head(model, owner='FisherHook').task
        path = osp.join(work_dir, self.out_file.format(task=task))
        start = time.perf_counter()
        stats = fisher_statistics(
            model,
            with_progress(loader),
            task=task,
            num_model_samples=self.num_model_samples,
            seed=self.seed,
            chunk_size=self.chunk_size,
            max_samples=self.max_samples)
        stats_file = TaskStats.from_model(
            model,
            stats,
            meta=dict(source='FisherHook'),
            train_size=train_size)
        if is_main_process():
            stats_file.save(path)
            logger.info(f'FisherHook: wrote {path} (task={task}, averaged '
                        f'over {stats["num_samples"]} samples, proxy N = '
                        f'{train_size or stats["num_samples"]}, '
                        f'{time.perf_counter() - start:.1f} s)')
        barrier()
        return path


def build_task_model(cfg,
                     checkpoint: str,
                     device: Optional[str] = None) -> nn.Module:
    """Build ``cfg.model`` (with ``cfg.data_preprocessor``) and load weights.

    Args:
        cfg (Config | dict): A stage-1 config.
        checkpoint (str): Its trained checkpoint (trusted source).
        device (str, optional): Target device; default
            ``mmengine.device.get_device()``.

    Returns:
        nn.Module: The model in eval mode.
    """
    model = build_model(cfg)
    with naming_file(checkpoint, 'checkpoint'):
        load_checkpoint(
            model,
            checkpoint,
            map_location='cpu',
            strict=True,
            logger='current')
    return model.to(device or get_device()).eval()


def task_fisher_from_config(cfg, checkpoint: str, work_dir: str,
                            logger) -> str:
    """Run the ``FisherHook`` of a stage-1 config on a trained checkpoint.

    What the hook does after training, for a model trained elsewhere (the
    task models of a ``TaskPairClassifier``): the settings come from
    ``cfg.custom_hooks`` (:meth:`TaskFisherJob.from_config`), the sampler
    seed from ``cfg.randomness.seed``.

    Args:
        cfg (Config): The task's stage-1 config (with a ``FisherHook``).
        checkpoint (str): The task model's checkpoint.
        work_dir (str): Where the statistics file goes.
        logger: Where the summary line goes.

    Returns:
        str: The statistics file.

    Raises:
        KeyError: If the config has no ``FisherHook``.
    """
    job = TaskFisherJob.from_config(cfg)
    loader = job.build_loader(cfg, cfg.get('randomness', {}).get('seed'))
    if job.dataloader is None:
        train_size = len(loader.dataset)
    else:
        with DefaultScope.overwrite_default_scope(
                cfg.get('default_scope', 'mmpretrain')):
            train_size = len(DATASETS.build(cfg.train_dataloader.dataset))
    model = build_task_model(cfg, checkpoint)
    return job.run(model, loader, work_dir, train_size, logger)
