"""Feed the training class counts to every component that needs them."""
from typing import Iterator, List, Optional, Sequence, Union

import numpy as np
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import DATASETS, HOOKS

from mmpretrain_osdtw.datasets.class_counts import (get_class_counts,
                                                    load_class_counts)


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def _counts_consumers(modules: Iterator) -> List:
    return [
        m for m in modules if callable(getattr(m, 'set_class_counts', None))
    ]


def _model_counts(model) -> Optional[np.ndarray]:
    """Counts a loaded checkpoint carried in a ``class_counts`` buffer."""
    for module in model.modules():
        buf = getattr(module, 'class_counts', None)
        if buf is not None and hasattr(buf, 'sum') and float(buf.sum()) > 0:
            return buf.detach().cpu().numpy().astype(np.int64)
    return None


@HOOKS.register_module()
class ClassCountsHook(Hook):
    """Give the training class counts to heads and metrics.

    Logit-adjusted heads need the class priors of the training set and the
    shot-group metric needs the training counts for its Many/Medium/Few
    groups. Before training, validation and testing this hook finds every
    model submodule and evaluator metric with a ``set_class_counts`` method
    and calls it with the counts, taken from (first that applies):

    1. ``class_counts`` given to the hook (list or JSON path);
    2. the training dataset, when training;
    3. the ``class_counts`` buffer of the loaded checkpoint (stand-alone
       validation/testing);
    4. the training dataset built from ``train_dataloader.dataset`` of the
       config (only its annotations are read).

    A metric given ``class_counts`` in its own config keeps them.

    Args:
        class_counts (list | str, optional): Explicit counts or a JSON file
            holding them. Defaults to None.

    Example:
        >>> custom_hooks = [dict(type='ClassCountsHook')]
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 class_counts: Optional[Union[Sequence[int], str]] = None):
        self.class_counts = (None if class_counts is None else
                             load_class_counts(class_counts))

    def before_train(self, runner) -> None:
        counts = self.class_counts
        if counts is None:
            counts = get_class_counts(runner.train_dataloader.dataset)
        self._feed_model(runner, counts, overwrite=True)
        self._feed_metrics(runner, counts)

    def before_val(self, runner) -> None:
        self._feed_metrics(runner, self._eval_counts(runner))

    def before_test(self, runner) -> None:
        counts = self._eval_counts(runner)
        self._feed_model(runner, counts, overwrite=False)
        self._feed_metrics(runner, counts)

    def _eval_counts(self, runner) -> np.ndarray:
        if self.class_counts is not None:
            return self.class_counts
        counts = _model_counts(_unwrap(runner.model))
        if counts is not None:
            return counts
        train_loader = runner.cfg.get('train_dataloader', None)
        if not train_loader or 'dataset' not in train_loader:
            raise KeyError(
                'ClassCountsHook needs the training class counts: give '
                '`class_counts` to the hook or keep `train_dataloader.dataset`'
                ' in the config')
        dataset = DATASETS.build(train_loader['dataset'])
        self.class_counts = get_class_counts(dataset)
        return self.class_counts

    @staticmethod
    def _feed_model(runner, counts: np.ndarray, overwrite: bool) -> None:
        for module in _counts_consumers(_unwrap(runner.model).modules()):
            if overwrite or _model_counts(module) is None:
                module.set_class_counts(counts)

    @staticmethod
    def _feed_metrics(runner, counts: np.ndarray) -> None:
        evaluators = []
        for loop_name in ('_val_loop', '_test_loop'):
            loop = getattr(runner, loop_name, None)
            evaluator = getattr(loop, 'evaluator', None)
            if evaluator is not None:
                evaluators.append(evaluator)
        for evaluator in evaluators:
            for metric in _counts_consumers(evaluator.metrics):
                if getattr(metric, 'class_counts', None) is None:
                    metric.set_class_counts(counts)
