"""Per-sample gradients of a task's log-likelihood loss (``torch.func``).

``g_i(y) = J_i^T (sigmoid(z'_i) - y)`` is the gradient of sample ``i``'s
loss ``sum_c BCE-with-logits(z'_ic, y_c)``, ``z' = z + tau * log_odds`` the
adjusted task logits. :func:`chunk_grads` takes one ``vjp`` of the adjusted
logits per sample and ``vmap``-s it over the samples of a chunk, so one
forward per sample serves the true target and every drawn label vector
(drawn with :func:`label_uniforms`, reproducibly per sample).
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, vjp, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

from mmpretrain_osdtw.utils import check_int
from .model_parts import logit_offset, task_head

#: Offsets of the label-sampling streams, so both tasks draw differently.
TASK_STREAMS = {None: 0, 'head': 1, 'tail': 2}

Grads = Dict[str, Tensor]


def check_chunk(chunk_size: int) -> int:
    """``chunk_size`` checked: an int >= 1."""
    return check_int('chunk_size', chunk_size, 1)


def model_device_dtype(model: nn.Module) -> Tuple[torch.device, torch.dtype]:
    """Device and dtype of the model's first parameter."""
    param = next(model.parameters())
    return param.device, param.dtype


def trainable(model: nn.Module,
              names: Optional[Sequence[str]] = None) -> Grads:
    """Detached parameters to differentiate (default: all trainable)."""
    params = dict(model.named_parameters())
    if names is None:
        names = [n for n, p in params.items() if p.requires_grad]
    missing = [n for n in names if n not in params]
    if missing:
        raise ValueError(f'{type(model).__name__} has no parameter '
                         f'{missing[0]!r}')
    return {n: params[n].detach() for n in names}


def label_uniforms(sample_ids: Sequence[int],
                   num_draws: int,
                   num_classes: int,
                   seed: int = 0,
                   stream: int = 0) -> Tensor:
    """Uniforms that draw the model-sampled labels ``y~ = (u < p)``.

    Each sample gets its own generator, seeded by ``(seed, stream,
    sample_id)`` through ``numpy.random.SeedSequence``, so the draws of a
    sample do not depend on its batch or on the process that sees it.

    Args:
        sample_ids (Sequence[int]): Non-negative sample ids.
        num_draws (int): Label vectors per sample (``M``).
        num_classes (int): Classes of the task (``n``).
        seed (int): Non-negative seed. Defaults to 0.
        stream (int): Separates streams (tasks). Defaults to 0.

    Returns:
        Tensor: float64 ``(B, M, n)`` uniforms in ``[0, 1)``.

    Example:
        >>> label_uniforms([3, 7], 1, 2).shape
        torch.Size([2, 1, 2])
    """
    check_int('seed', seed, 0)
    out = torch.empty(
        len(sample_ids), num_draws, num_classes, dtype=torch.float64)
    for row, sample_id in zip(out, sample_ids):
        sample_id = int(sample_id)
        if sample_id < 0:
            raise ValueError(f'sample id {sample_id} is negative')
        entropy = np.random.SeedSequence([seed, stream, sample_id])
        gen = torch.Generator().manual_seed(
            int(entropy.generate_state(1, np.uint64)[0]))
        torch.rand(
            num_draws,
            num_classes,
            generator=gen,
            dtype=torch.float64,
            out=row)
    return out


def _sample_fn(model: nn.Module, offset: Tensor, with_draws: bool):
    """Per-sample function: (true-target grad, mean drawn-label grad^2)."""

    def adjusted_logits(params: Grads, x: Tensor) -> Tensor:
        logits = functional_call(model, params, (x.unsqueeze(0), ),
                                 dict(mode='tensor'))
        return logits.squeeze(0) + offset

    def fn(params: Grads, x: Tensor, target: Tensor,
           uniforms: Optional[Tensor]) -> Tuple[Grads, ...]:
        z, pullback = vjp(lambda p: adjusted_logits(p, x), params)
        prob = torch.sigmoid(z)
        # d/dz' sum_c BCE(z'_c, y_c) = sigmoid(z') - y
        residual = (prob - target).unsqueeze(0)
        if with_draws:
            drawn = (uniforms < prob).to(prob.dtype)
            residual = torch.cat([residual, prob - drawn])
        (grads, ) = vmap(pullback)(residual)
        true = {n: g[0] for n, g in grads.items()}
        if not with_draws:
            return (true, )
        return true, {n: g[1:].square().mean(0) for n, g in grads.items()}

    return fn


def chunk_grads(
        model: nn.Module,
        params: Grads,
        offset: Tensor,
        inputs: Tensor,
        targets: Tensor,
        uniforms: Optional[Tensor] = None) -> Tuple[Grads, Optional[Grads]]:
    """Per-sample gradients of one chunk.

    Args:
        model (nn.Module): The task model.
        params (dict): The parameters to differentiate (:func:`trainable`).
        offset (Tensor): :func:`~.model_parts.logit_offset` of its head.
        inputs (Tensor): Preprocessed images ``(B, 3, H, W)``.
        targets (Tensor): ``(B, n)`` task targets.
        uniforms (Tensor, optional): ``(B, M, n)`` :func:`label_uniforms`
            that draw ``M`` label vectors per sample.

    Returns:
        tuple: ``{name: (B, *shape)}`` gradients at the true targets, and
        with ``uniforms`` ``{name: (B, *shape)}`` means over the ``M``
        drawn labels of the squared gradients (else None).
    """
    logits_width = offset.numel()
    if targets.shape != (inputs.shape[0], logits_width):
        raise ValueError(f'task targets have shape {tuple(targets.shape)}, '
                         f'expected ({inputs.shape[0]}, {logits_width})')
    fn = _sample_fn(model, offset, uniforms is not None)
    in_dims = (None, 0, 0, None if uniforms is None else 0)
    # no_grad: torch.func ignores it, but it stops the outer autograd.
    # The math attention kernel: the fused CPU/CUDA kernels have no vmap
    # batching rule, so vmap would run them one sample at a time.
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        out = vmap(fn, in_dims=in_dims)(params, inputs, targets, uniforms)
    return out[0], (out[1] if len(out) > 1 else None)


def per_sample_task_grads(model: nn.Module,
                          inputs: Tensor,
                          task_targets: Tensor,
                          params: Optional[Sequence[str]] = None,
                          chunk_size: Optional[int] = None) -> Grads:
    """Per-sample gradients of the task's log-likelihood loss.

    The loss of sample ``i`` is ``sum_c BCE-with-logits(z_ic + tau *
    log_odds_c, y_ic)`` over the head's classes (see the package docs). The
    model is used as it is (call it in eval mode for deterministic
    results).

    Args:
        model (nn.Module): ``ImageClassifier`` with a task head.
        inputs (Tensor): Preprocessed images ``(B, 3, H, W)``.
        task_targets (Tensor): ``(B, n)`` targets in task order (the head's
            ``task_targets``).
        params (Sequence[str], optional): Parameter names to differentiate;
            default all with ``requires_grad``.
        chunk_size (int, optional): Samples per ``vmap`` call; default all.

    Returns:
        dict[str, Tensor]: ``{name: (B, *param.shape)}``.

    Example:
        >>> targets = model.head.task_targets(data_samples)  # doctest: +SKIP
        >>> grads = per_sample_task_grads(
        ...     model, inputs, targets)  # doctest: +SKIP
    """
    head = task_head(model)
    device, dtype = model_device_dtype(model)
    weights = trainable(model, params)
    offset = logit_offset(head, dtype).to(device)
    inputs = inputs.to(device, dtype)
    task_targets = task_targets.to(device, dtype)
    step = check_chunk(chunk_size or max(1, inputs.shape[0]))
    parts = [
        chunk_grads(model, weights, offset, inputs[s:s + step],
                    task_targets[s:s + step])[0]
        for s in range(0, inputs.shape[0], step)
    ]
    return {n: torch.cat([p[n] for p in parts]) for n in weights}
