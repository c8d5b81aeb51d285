"""OSDTW stage-1 Fisher statistics from a Runner: :class:`FisherHook` writes
a task model's ``fisher_<task>.pth`` when its training ends.

The same statistics for a model trained elsewhere (the task models of a
``TaskPairClassifier``) and the cross-task ``fisher_cross.pth`` are jobs
built from configs: :mod:`mmpretrain_osdtw.apis.fisher_jobs`, which also
holds the Fisher pass's data (:func:`fisher_dataloader_cfg`: the training
images read with the test pipeline).
"""
import copy
import os.path as osp
import time
from typing import Iterable, Optional, Union

from mmengine.dist import barrier, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmpretrain.registry import HOOKS
from torch import nn

from mmpretrain_osdtw.apis.fisher_jobs import (fisher_dataloader_cfg,
                                               with_progress)
from mmpretrain_osdtw.osdtw.fisher import (check_statistics,
                                           fisher_statistics, task_head)
from mmpretrain_osdtw.osdtw.stats_format import save_task_stats
from mmpretrain_osdtw.utils import check_int

_OWNER = 'FisherHook: '


def _train_size(runner) -> Optional[int]:
    """Length of the runner's training dataset (the proxy's ``N``), or None
    when it has none or its length is unknown."""
    try:
        return len(runner.train_dataloader.dataset)
    except (AttributeError, RuntimeError, TypeError, KeyError):
        return None


@HOOKS.register_module()
class FisherHook(Hook):
    """Write the stage-1 Fisher statistics of a task model after training.

    After training the (unwrapped) model runs in eval mode over the
    training images read with the TEST pipeline, and
    :func:`~mmpretrain_osdtw.osdtw.fisher.fisher_statistics` averages the
    per-sample squared gradients of the task's log-likelihood loss (``v``:
    true labels, ``h``: labels drawn from the model). Rank 0 writes
    ``work_dir/out_file`` in the format
    :mod:`mmpretrain_osdtw.osdtw.stats_format`
    reads. The model's train/eval flags are restored afterwards.

    Args:
        out_file (str): File name under ``work_dir`` (or an absolute path);
            ``{task}`` becomes ``'head'``/``'tail'``. Defaults to
            ``'fisher_{task}.pth'``.
        dataloader (dict | DataLoader, optional): The Fisher pass data.
            Defaults to None: the training set with the test pipeline
            (:func:`fisher_dataloader_cfg`). With other data (a subset, for
            speed) the proxy's ``N`` stays the training set's size: the
            file records it as ``train_size``.
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
        >>> custom_hooks = [dict(type='ClassCountsHook'),
        ...                 dict(type='FisherHook', chunk_size=16)]
    """

    priority = 'LOW'

    def __init__(self,
                 out_file: str = 'fisher_{task}.pth',
                 dataloader: Optional[Union[dict, Iterable]] = None,
                 chunk_size: int = 32,
                 num_model_samples: int = 1,
                 seed: int = 0,
                 max_samples: Optional[int] = None) -> None:
        if '{task}' not in out_file and not out_file.endswith('.pth'):
            raise ValueError('FisherHook: out_file must end with .pth or '
                             f'contain {{task}}, got {out_file!r}')
        check_int('chunk_size', chunk_size, 1, _OWNER)
        check_int('num_model_samples', num_model_samples, 1, _OWNER)
        check_int('seed', seed, 0, _OWNER)
        if max_samples is not None:
            check_int('max_samples', max_samples, 1, _OWNER)
        self.out_file = out_file
        self.max_samples = max_samples
        self.dataloader = dataloader
        self.chunk_size = chunk_size
        self.num_model_samples = num_model_samples
        self.seed = seed

    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_train(self, runner) -> None:
        """Fail before training when the model has no task head."""
        task_head(self._model(runner), owner='FisherHook')

    def build_loader(self, cfg, seed: Optional[int]) -> Iterable:
        """The Fisher pass data for the training config ``cfg``.

        Args:
            cfg (Config): The (stage-1) training config.
            seed (int, optional): Seed of the sampler (the run's seed).

        Returns:
            Iterable: The data loader.
        """
        loader = self.dataloader
        if loader is None:
            loader = fisher_dataloader_cfg(
                cfg, shuffle=self.max_samples is not None)
        if not isinstance(loader, dict):
            return loader
        with DefaultScope.overwrite_default_scope(
                cfg.get('default_scope', 'mmpretrain')):
            return Runner.build_dataloader(copy.deepcopy(loader), seed=seed)

    def write(self, model: nn.Module, loader: Iterable, work_dir: str,
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
        check_statistics(stats)
        if is_main_process():
            save_task_stats(
                path,
                model,
                stats,
                meta=dict(source='FisherHook'),
                train_size=train_size)
            logger.info(f'FisherHook: wrote {path} (task={task}, averaged '
                        f'over {stats["num_samples"]} samples, proxy N = '
                        f'{train_size or stats["num_samples"]}, '
                        f'{time.perf_counter() - start:.1f} s)')
        barrier()
        return path

    def after_train(self, runner) -> None:
        """Compute, check and save the statistics of the head's task."""
        model = self._model(runner)
        task_head(model, owner='FisherHook')
        self.write(model, self.build_loader(runner.cfg, runner.seed),
                   runner.work_dir, _train_size(runner), runner.logger)
