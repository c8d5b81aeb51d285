"""OSDTW stage-1 Fisher statistics from a Runner: :class:`FisherHook` writes
a task model's ``fisher_<task>.pth`` when its training ends.

The pass itself, its data and its file live in
:mod:`mmpretrain_osdtw.osdtw.fisher` (:class:`~mmpretrain_osdtw.osdtw.
fisher.TaskFisherJob`); the hook runs it at the end of training, as
:func:`~mmpretrain_osdtw.osdtw.fisher.task_fisher_from_config` runs it for
a model trained elsewhere.
"""
from typing import Iterable, Optional, Union

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS
from torch import nn

from mmpretrain_osdtw.osdtw.fisher import TaskFisherJob, task_head


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

    Runs :class:`~mmpretrain_osdtw.osdtw.fisher.TaskFisherJob` on the
    (unwrapped) model after training, with the run's config, seed and
    ``work_dir``; the model's train/eval flags are restored afterwards. The
    arguments are the job's (see there).

    Args:
        out_file (str): File name under ``work_dir`` (or an absolute path);
            ``{task}`` becomes ``'head'``/``'tail'``.
        dataloader (dict | DataLoader, optional): The Fisher pass data;
            default the training set with the test pipeline.
        chunk_size (int): Samples per ``vmap`` call (memory bound).
        num_model_samples (int): Label draws per sample for ``h``.
        seed (int): Seed of the label draws.
        max_samples (int, optional): Average over at most this many
            samples (all ranks together).

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
        self.job = TaskFisherJob(out_file, dataloader, chunk_size,
                                 num_model_samples, seed, max_samples)

    @staticmethod
    def _model(runner) -> nn.Module:
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_train(self, runner) -> None:
        """Fail before training when the model has no task head."""
        task_head(self._model(runner), owner='FisherHook')

    def after_train(self, runner) -> None:
        """Compute, check and save the statistics of the head's task."""
        model = self._model(runner)
        task_head(model, owner='FisherHook')
        self.job.run(model, self.job.build_loader(runner.cfg, runner.seed),
                     runner.work_dir, _train_size(runner), runner.logger)
