"""The parts of a task model that the Fisher pass and its files need.

Which parameters are body (stem and blocks, layers ``1..L``) and which are
decoder (final norms, neck and head: group 0), the sigmoid task head and
its logit offset, and the identity of the model and of its class split
(fingerprint and meta, recorded in the statistics files).
"""
import hashlib
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np
import torch
from torch import Tensor, nn

from mmpretrain_osdtw.models.utils.vit_parts import check_vit, vit_param_layer

TASKS = ('head', 'tail')
LIKELIHOOD = ('sum over the task classes of BCE-with-logits(z + tau * '
              'log_prior_odds, y), nats; no label smoothing, no mixup')
NO_TASK_HEAD = "needs a task head (task='head' or 'tail')"


def param_layer_map(model: nn.Module) -> Dict[str, int]:
    """OSDTW layer of every trainable parameter of an ``ImageClassifier``.

    Args:
        model (nn.Module): An ``ImageClassifier`` with a
            ``VisionTransformer`` backbone (``out_indices=-1``).

    Returns:
        dict[str, int]: ``{parameter name: layer}`` in ``named_parameters``
        order, only parameters with ``requires_grad``: ``1..L`` for the
        backbone's stem and blocks (:func:`vit_param_layer`), 0 for its
        final norms and for the neck and head.

    Raises:
        TypeError: If the backbone is not a ``VisionTransformer``.
        ValueError: If a parameter is outside backbone/neck/head, or nothing
            is trainable.

    Example:
        >>> layers = param_layer_map(model)  # doctest: +SKIP
        >>> layers['backbone.layers.3.attn.qkv.weight']  # doctest: +SKIP
        4
    """
    backbone = getattr(model, 'backbone', None)
    check_vit(backbone)
    layers = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        prefix, _, rest = name.partition('.')
        if prefix == 'backbone':
            layers[name] = vit_param_layer(rest, backbone.num_layers)
        elif prefix in ('neck', 'head'):
            layers[name] = 0
        else:
            raise ValueError(f'parameter {name!r} is in none of backbone, '
                             'neck, head: OSDTW cannot give it a layer')
    if not layers:
        raise ValueError(f'{type(model).__name__} has no trainable parameter')
    return layers


def task_head(model: nn.Module,
              task: Optional[str] = None,
              owner: str = 'Fisher statistics') -> nn.Module:
    """The model's sigmoid task head, checked.

    Args:
        model (nn.Module): The classifier.
        task (str, optional): The task the head must have; None accepts
            ``'head'`` and ``'tail'``.
        owner (str): Who asks, for the messages.

    Returns:
        nn.Module: ``model.head``.

    Raises:
        ValueError: If the head has no task (or another one).
        TypeError: If the head is not a logit-adjusted BCE head.
    """
    head = getattr(model, 'head', None)
    head_task = getattr(head, 'task', None)
    if head_task not in TASKS:
        raise ValueError(f'{owner} {NO_TASK_HEAD}; the head of '
                         f'{type(model).__name__} has task={head_task!r}')
    if task is not None and head_task != task:
        raise ValueError(f'{owner}: asked for task {task!r} but the model '
                         f'head has task {head_task!r}')
    needed = ('task_logits', 'task_targets', 'task_log_prior_odds')
    if not all(callable(getattr(head, n, None)) for n in needed) or \
            not hasattr(getattr(head, 'loss_module', None), 'tau'):
        raise TypeError(f'{owner} needs a sigmoid task head with '
                        f'{", ".join(needed)} and a loss with `tau` (e.g. '
                        f'LogitAdjustedBCEHead); got {type(head).__name__}')
    return head


def logit_offset(head: nn.Module,
                 dtype: torch.dtype = torch.float32) -> Tensor:
    """``tau * log_prior_odds`` added to the raw task logits in the loss.

    Args:
        head (nn.Module): A ``LogitAdjustedBCEHead``.
        dtype (torch.dtype): Result dtype (the product is taken in it).

    Returns:
        Tensor: ``(num_task_classes,)`` on the head's device.
    """
    tau = float(head.loss_module.tau)
    odds = head.task_log_prior_odds().to(head.class_ids.device, dtype)
    return tau * odds


def body_fingerprint(model: nn.Module) -> str:
    """SHA-1 of the backbone type and its sorted parameter names and shapes.

    Two models with the same fingerprint have the same body layout, so their
    statistics can be paired.

    Args:
        model (nn.Module): The classifier.

    Returns:
        str: 40 hex digits.
    """
    backbone = model.backbone
    lines = [type(backbone).__name__] + sorted(
        f'{name}:{tuple(p.shape)}' for name, p in backbone.named_parameters())
    return hashlib.sha1('\n'.join(lines).encode()).hexdigest()


def plain(obj):
    """Config-like objects as plain Python (for ``weights_only`` loading).

    Example:
        >>> plain(dict(a=(1, 2), b=np.int64(3)))
        {'a': [1, 2], 'b': 3}
    """
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def model_meta(model: nn.Module) -> dict:
    """Meta data identifying the model and its class split (plain types).

    Args:
        model (nn.Module): The classifier with a task head.

    Returns:
        dict: ``model``, ``backbone``, ``arch``, ``head``, ``task``,
        ``num_classes`` (``K``), ``class_ids``, ``class_counts``, ``tau``,
        ``likelihood`` and ``fingerprint`` (:func:`body_fingerprint`).
    """
    backbone, head = model.backbone, model.head
    arch = dict(getattr(backbone, 'arch_settings', {}))
    for key in ('img_size', 'patch_resolution', 'out_type', 'num_extra_tokens',
                'final_norm'):
        arch[key] = getattr(backbone, key, None)
    return plain(
        dict(
            model=type(model).__name__,
            backbone=type(backbone).__name__,
            arch=arch,
            head=type(head).__name__,
            task=head.task,
            num_classes=int(head.num_classes),
            class_ids=head.class_ids.tolist(),
            class_counts=head.class_counts.tolist(),
            tau=float(head.loss_module.tau),
            likelihood=LIKELIHOOD,
            fingerprint=body_fingerprint(model)))


@dataclass(frozen=True)
class TaskModelRecord:
    """What a task statistics file records of its model.

    Attributes:
        task (str): ``'head'`` or ``'tail'``.
        num_layers (int): ``L``, the backbone's blocks.
        param_layers (dict[str, int]): :func:`param_layer_map`.
        params (dict[str, Tensor]): Detached CPU copies of those parameters.
        meta (dict): :func:`model_meta`.
    """
    task: str
    num_layers: int
    param_layers: Dict[str, int]
    params: Dict[str, Tensor]
    meta: dict

    @classmethod
    def of(cls,
           model: nn.Module,
           task: Optional[str] = None,
           owner: str = 'task statistics') -> 'TaskModelRecord':
        """Record ``model`` (its head must have ``task`` if given)."""
        head = task_head(model, task, owner)
        layers = param_layer_map(model)
        params = dict(model.named_parameters())
        return cls(head.task, int(model.backbone.num_layers), layers,
                   {n: params[n].detach().cpu().clone()
                    for n in layers}, model_meta(model))


def shared_param_names(model_head: nn.Module,
                       model_tail: nn.Module) -> List[str]:
    """Trainable parameters present in both models with the same shape.

    With ``K`` odd the two heads differ in shape and drop out; group-0
    tensors never enter the shared-encoder terms of the proxy anyway.

    Args:
        model_head (nn.Module): The head-task model.
        model_tail (nn.Module): The tail-task model.

    Returns:
        list[str]: Names in the head model's order.
    """
    tail = dict(model_tail.named_parameters())
    return [
        n for n, p in model_head.named_parameters() if p.requires_grad
        and n in tail and tail[n].requires_grad and tail[n].shape == p.shape
    ]


def check_task_pair(model_head: nn.Module, model_tail: nn.Module,
                    owner: str) -> None:
    """Both task models must share the body layout and the class split.

    Raises:
        ValueError: Naming ``owner`` and what differs.
    """
    head_a = task_head(model_head, 'head', owner)
    head_b = task_head(model_tail, 'tail', owner)
    if body_fingerprint(model_head) != body_fingerprint(model_tail):
        raise ValueError(f'{owner}: the two models have different backbones '
                         '(parameter names/shapes)')
    if not torch.equal(head_a.class_counts.cpu(), head_b.class_counts.cpu()):
        raise ValueError(f'{owner}: the two heads hold different '
                         'class_counts (another class split)')
    body = [{n
             for n, layer in param_layer_map(m).items() if layer > 0}
            for m in (model_head, model_tail)]
    if body[0] != body[1]:
        name = sorted(body[0] ^ body[1])[0]
        raise ValueError(f'{owner}: body parameter {name!r} is trainable in '
                         'only one of the two models')
