"""Both OSDTW stage-1 task models in one module: one data pass for both."""
import copy
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.model import ModuleDict
from mmpretrain.models.classifiers import BaseClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..heads import pack_predictions

TASKS = ('head', 'tail')
PREFIX = 'tasks.'


def _task_model_cfg(model: dict, task: str) -> dict:
    """``model`` with its head's task set to ``task`` (own preprocessor
    dropped: the pair's preprocessor prepares the batch once)."""
    cfg = copy.deepcopy(dict(model))
    cfg.pop('data_preprocessor', None)
    cfg.pop('train_cfg', None)  # batch augments: the pair's preprocessor
    head = cfg.get('head')
    head_cls = MODELS.get(head.get('type')) if isinstance(head, dict) else None
    if not callable(getattr(head_cls, 'task_logits', None)):
        raise TypeError('TaskPairClassifier needs a sigmoid task head with '
                        'task_logits (LogitAdjustedBCEHead) in `model.head`, '
                        f'got {head!r:.80}')
    cfg['head'] = dict(head, task=task)
    return cfg


def split_task_pair_state(state_dict: Dict[str, torch.Tensor]
                          ) -> Dict[str, Dict[str, torch.Tensor]]:
    """The state dicts of the two task models in a pair's state dict.

    Args:
        state_dict (dict): A ``TaskPairClassifier`` state dict (keys
            ``tasks.<task>.<name>``; other keys, such as the data
            preprocessor's, are dropped).

    Returns:
        dict: ``{'head': {...}, 'tail': {...}}``, keys without the prefix:
        each loads into the task's own ``ImageClassifier``.

    Raises:
        KeyError: If a task has no entry (not a pair's state dict).
    """
    out: Dict[str, Dict[str, torch.Tensor]] = {t: {} for t in TASKS}
    for key, value in state_dict.items():
        if not key.startswith(PREFIX):
            continue
        task, _, name = key[len(PREFIX):].partition('.')
        if task in out:
            out[task][name] = value
    missing = [t for t, entries in out.items() if not entries]
    if missing:
        raise KeyError(f'no `tasks.{missing[0]}.*` entry: not the state '
                       'dict of a TaskPairClassifier')
    return out


def split_task_pair_checkpoint(pair_ckpt: str, task: str,
                               out_file: str) -> str:
    """Write the ``task`` model of a ``TaskPairClassifier`` checkpoint as an
    ``ImageClassifier`` checkpoint, atomically.

    Args:
        pair_ckpt (str): The pair's checkpoint.
        task (str): ``'head'`` or ``'tail'``.
        out_file (str): Target ``.pth`` (``state_dict`` and ``meta``).

    Returns:
        str: ``out_file``.

    Raises:
        FileNotFoundError: If ``pair_ckpt`` is missing.
        UntrustedCheckpointError: If it holds more than weights (see
            :func:`~mmpretrain_osdtw.utils.load_checkpoint_file`).
        ValueError: If torch cannot read it (names the file).
        KeyError: If it is not a pair's checkpoint (names the file).
    """
    from mmpretrain_osdtw.utils import (atomic_torch_save,
                                        load_state_dict_file)
    state = load_state_dict_file(pair_ckpt)
    try:
        task_state = split_task_pair_state(state)[task]
    except KeyError as err:
        raise KeyError(f'{pair_ckpt}: {err.args[0]}') from None
    atomic_torch_save(
        dict(
            state_dict=task_state,
            meta=dict(source='TaskPairClassifier', pair=pair_ckpt,
                      task=task)), out_file)
    return out_file


@MODELS.register_module()
class TaskPairClassifier(BaseClassifier):
    """The two OSDTW stage-1 task models, trained in one data pass.

    Holds one ``ImageClassifier`` per task (``tasks.head``, ``tasks.tail``),
    built from the same ``model`` config with the head's ``task`` set. Each
    batch is prepared once (the pair's data preprocessor, which also runs
    the model config's ``train_cfg`` batch augments, Mixup/CutMix) and both
    models train on it; the loss is the sum of the two
    task losses, and since the models share no parameter each one gets
    exactly its own task's gradient: with AdamW (or any per-parameter
    optimizer) and no global gradient clipping this is the same training as
    two separate runs on the same data, at the cost of one data pass.

    Both task models start from the same initialisation (the OSDTW
    requirement that makes their parameters comparable): after the usual
    ``init_weights`` the head-task model's parameters are copied into the
    tail-task model wherever the shapes agree (the whole body; the heads
    too when ``K`` is even).

    ``predict`` gives the stage-1 pair's prediction (sigmoid scores of the
    owning task, in the original class order). After training,
    :func:`split_task_pair_state` turns a checkpoint into the two task
    models' checkpoints.

    Args:
        model (dict): An ``ImageClassifier`` config with a
            ``LogitAdjustedBCEHead`` (its ``task`` is overridden).
        data_preprocessor (dict, optional): The pair's preprocessor.
        init_cfg (dict, optional): Initialisation config.

    Example:
        >>> model = dict(type='TaskPairClassifier',
        ...              model=dict(type='ImageClassifier', backbone=...,
        ...                         head=dict(type='LogitAdjustedBCEHead',
        ...                                   num_classes=10, ...)))
        ... # doctest: +SKIP
    """

    def __init__(self,
                 model: dict,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if data_preprocessor is None:
            data_preprocessor = copy.deepcopy(
                dict(model).get('data_preprocessor') or {})
        if isinstance(data_preprocessor, dict):
            data_preprocessor = dict(data_preprocessor)
            data_preprocessor.setdefault('type',
                                         'mmpretrain.ClsDataPreprocessor')
            # Mixup/CutMix of the task model (``ImageClassifier(train_cfg=
            # dict(augments=...))``) run once per batch, in the pair's
            # preprocessor.
            data_preprocessor.setdefault('batch_augments',
                                         dict(model).get('train_cfg'))
        super().__init__(
            init_cfg=init_cfg, data_preprocessor=data_preprocessor)
        # mmengine's ModuleDict: init_weights reaches the task models (a
        # torch ModuleDict would stop it, leaving PyTorch's default init).
        self.tasks = ModuleDict(
            {t: MODELS.build(_task_model_cfg(model, t))
             for t in TASKS})

    def init_weights(self) -> None:
        """Initialise, then start both task models from the same weights."""
        super().init_weights()
        self.copy_head_init_to_tail()

    @torch.no_grad()
    def copy_head_init_to_tail(self) -> List[str]:
        """Copy the head-task model's parameters into the tail-task model
        where the shapes agree; return the names copied."""
        source = dict(self.tasks['head'].named_parameters())
        copied = []
        for name, param in self.tasks['tail'].named_parameters():
            if name in source and source[name].shape == param.shape:
                param.copy_(source[name])
                copied.append(name)
        return copied

    def extract_feat(self,
                     inputs: torch.Tensor) -> Dict[str, Tuple[torch.Tensor]]:
        """Backbone (and neck) outputs of each task model."""
        return {t: m.extract_feat(inputs) for t, m in self.tasks.items()}

    def class_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(B, K)`` raw logits, each class from its owning task."""
        out = None
        for task, sub in self.tasks.items():
            head = sub.head
            logits = head.scatter_to_classes(
                head.task_logits(sub.extract_feat(inputs)))
            out = logits if out is None else out + logits
        return out

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """``tensor``: raw logits (B, K) in the original class order;
        ``loss``: both task losses; ``predict``: data samples."""
        if mode == 'tensor':
            return self.class_logits(inputs)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}".')

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """Each task model's losses, keys prefixed ``'<task>.'``."""
        losses = {}
        for task, sub in self.tasks.items():
            for key, value in sub.loss(inputs, data_samples).items():
                losses[f'{task}.{key}'] = value
        return losses

    def predict(
            self,
            inputs: torch.Tensor,
            data_samples: Optional[List[DataSample]] = None
    ) -> List[DataSample]:
        """Sigmoid scores of the owning task for every class."""
        return pack_predictions(
            torch.sigmoid(self.class_logits(inputs)), data_samples)

    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """Layer depth for layer-wise lr decay: that of the task model.

        Returns:
            Tuple[int, int]: The depth and the number of depths.
        """
        name = param_name[len(prefix):] if param_name.startswith(
            prefix) else param_name
        if not name.startswith(PREFIX):
            raise ValueError(f'TaskPairClassifier: parameter {param_name!r} '
                             'is outside `tasks`')
        task, _, rest = name[len(PREFIX):].partition('.')
        return self.tasks[task].get_layer_depth(rest)
