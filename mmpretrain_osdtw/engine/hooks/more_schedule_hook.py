"""Drive MORE training: the ``alpha(t)`` schedule and the final merge."""
import os.path as osp
from typing import Optional

from mmengine import __version__ as mmengine_version
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import IterBasedTrainLoop
from mmpretrain.registry import HOOKS

from mmpretrain_osdtw.models.more import (SHAPES, rebalance_alpha,
                                          save_merged_checkpoint)
from mmpretrain_osdtw.models.more.schedule import check_amplitude


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class MOREScheduleHook(Hook):
    """Set MORE's rebalance weight every iteration; merge after training.

    Before each training iteration the model gets
    ``alpha(t) = A' * K * sin(pi * t / T)`` with ``t = runner.iter`` and
    ``T = runner.max_iters`` (or ``runner.epoch`` / ``runner.max_epochs``
    with ``by_epoch=True``). ``alpha`` is computed from the runner's
    counters only, so ``--resume`` continues the schedule where it stopped
    and the hook has no state to save.

    After training, the model's state dict with every ``B A`` folded into
    its weight (exactly the plain model's keys) is written atomically to
    ``<work_dir>/<merged_filename>``; evaluate it with the plain baseline
    config: ``tools/test.py BASELINE_CONFIG <work_dir>/merged.pth``.

    Args:
        amplitude (float): Normalised peak ``A' >= 0``; the peak is
            ``A' * K``. Defaults to 2.0.
        by_epoch (bool): Measure ``t`` in epochs instead of iterations.
            Defaults to False.
        shape (str): ``'sine'`` (MORE), or ``'constant'``, ``'linear'``,
            ``'cosine_ramp'`` for ablations. Defaults to ``'sine'``.
        save_merged (bool): Write the merged checkpoint after training.
            Defaults to True.
        merged_filename (str): Its file name in the work dir. Defaults to
            ``'merged.pth'``.

    Example:
        >>> custom_hooks = [
        ...     dict(type='ClassCountsHook'),
        ...     dict(type='MOREScheduleHook', amplitude=2.0),
        ... ]
    """

    priority = 'NORMAL'

    def __init__(self,
                 amplitude: float = 2.0,
                 by_epoch: bool = False,
                 shape: str = 'sine',
                 save_merged: bool = True,
                 merged_filename: str = 'merged.pth') -> None:
        self.amplitude = check_amplitude(amplitude)
        if shape not in SHAPES:
            raise ValueError(f'MOREScheduleHook: shape must be one of '
                             f'{SHAPES}, got {shape!r}')
        self.by_epoch = bool(by_epoch)
        self.shape = shape
        self.save_merged = bool(save_merged)
        self.merged_filename = merged_filename

    def before_train(self, runner) -> None:
        model = _unwrap(runner.model)
        if not callable(getattr(model, 'set_rebalance_weight', None)):
            raise TypeError(
                'MOREScheduleHook needs a MORE model (one with '
                f'`set_rebalance_weight`, e.g. MOREClassifier); got '
                f'{type(model).__name__}')
        if self.by_epoch and isinstance(runner.train_loop, IterBasedTrainLoop):
            raise ValueError('MOREScheduleHook(by_epoch=True) needs an '
                             'epoch-based train loop; use by_epoch=False '
                             'with IterBasedTrainLoop')

    def alpha(self, runner) -> float:
        """``alpha(t)`` at the runner's current iteration (or epoch)."""
        if self.by_epoch:
            step, total = runner.epoch, runner.max_epochs
        else:
            step, total = runner.iter, runner.max_iters
        return rebalance_alpha(step, total, self.amplitude,
                               _unwrap(runner.model).num_classes, self.shape)

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        _unwrap(runner.model).set_rebalance_weight(self.alpha(runner))

    def after_train(self, runner) -> None:
        if not self.save_merged or not is_main_process():
            return
        path = osp.join(runner.work_dir, self.merged_filename)
        meta = dict(
            epoch=runner.epoch,
            iter=runner.iter,
            experiment_name=runner.experiment_name,
            mmengine_version=mmengine_version)
        dataset = getattr(runner.train_dataloader, 'dataset', None)
        if hasattr(dataset, 'metainfo'):
            meta['dataset_meta'] = dataset.metainfo
        layers = save_merged_checkpoint(
            _unwrap(runner.model).state_dict(),
            path,
            meta=meta,
            source=f'{runner.work_dir} (end of training)')
        runner.logger.info(f'MORE: folded the low-rank tail of '
                           f'{len(layers)} layers into the weights; plain '
                           f'checkpoint saved to {path}')
