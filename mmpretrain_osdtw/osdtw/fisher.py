"""OSDTW stage-1 statistics: per-sample gradients, ``v``, ``h`` and ``k``.

Pure torch functions (no Runner); :class:`~mmpretrain_osdtw.engine.hooks.
FisherHook` calls them after stage-1 training and writes their results with
the writers of :mod:`.stats_format` (the statistics files' format, writers
and readers).

**Model.** An MMPretrain ``ImageClassifier`` with a ``VisionTransformer``
backbone and a task head (``LogitAdjustedBCEHead`` with ``task='head'`` or
``'tail'``). Parameters map to OSDTW layers with :func:`param_layer_map`
(stem with block 0 in layer 1, block ``i`` in layer ``i + 1``, final norms,
neck and head in group 0).

**Likelihood.** The per-sample loss is the log-likelihood loss of the
trained model, in nats: the SUM over the task's ``n`` classes of
``BCE-with-logits(z_c + tau * log_odds_c, y_c)``, where ``z`` are the raw
task logits, ``log_odds_c = log pi_c - log(1 - pi_c)`` the head's
``task_log_prior_odds()`` and ``tau`` its loss's ``tau``. Stage 1 trained
these *adjusted* logits, so the model's Bernoulli likelihood (and its
optimum ``theta_hat``) lives on them; the adjustment is a constant shift, so
with ``tau = 0`` this is plain BCE. The loss's label smoothing, Mixup/CutMix
and ``loss_weight`` are NOT applied: they are training devices, not part of
the likelihood (PROXY_SPEC section 4).

**Statistics** (diagonal, one value per parameter entry, averaged over the
``N`` samples)::

    v = mean_i g_i(y_i)^2                 # y_i = the true task target
    h = mean_i mean_m g_i(y~_im)^2        # y~_imc ~ Bernoulli(sigmoid(z'_ic))
    k = mean_i g_A,i(y_i) * g_B,i(y_i)    # each task at its own model

``g_i(y) = J_i^T (sigmoid(z'_i) - y)`` is the per-sample gradient, computed
with ``torch.func.functional_call`` + ``vmap`` over the samples of a chunk of
a ``vjp`` of the adjusted logits: one forward per sample serves the true
target and all ``num_model_samples`` drawn ones.

**Determinism.** The model runs in eval mode (dropout and drop-path off)
and the data must come without random augmentation: build the loader with
the TEST pipeline (the hook does). The labels ``y~`` are drawn by
:func:`label_uniforms` from a generator seeded by ``(seed, task,
sample_idx)`` (``sample_idx`` from the samples' metainfo, set by
``BaseDataset``), so ``h`` does not depend on the batch size, the chunk size,
the device or the number of processes. Samples without ``sample_idx`` use
their position in this process's stream instead.

**Distributed.** With ``torch.distributed`` initialised, every rank sums
over its shard; the float64 sums and the counts are ``all_reduce``-d before
dividing, so every rank gets the single-process result. Padding samplers
(mmengine ``DefaultSampler(round_up=True)``, torch ``DistributedSampler``)
repeat samples to even out the shards: the padded positions are the last
ones of a rank's shard and are skipped (:func:`rank_sample_limit`). An
unpadded sampler (``DefaultSampler(round_up=False)``) needs no skipping.

**Memory.** The per-sample gradients of ``chunk_size`` samples are alive at
once: about ``chunk_size * (2 + num_model_samples) * #params`` floats.

Example:
    >>> stats = fisher_statistics(model, loader)  # doctest: +SKIP
    >>> check_statistics(stats)  # doctest: +SKIP
"""
import hashlib
import warnings
from contextlib import contextmanager
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.distributed as torch_dist
from torch import Tensor, nn
from torch.func import functional_call, vjp, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

from mmpretrain_osdtw.models.utils.vit_parts import check_vit, vit_param_layer
from mmpretrain_osdtw.utils import check_int

TASKS = ('head', 'tail')
#: Offsets of the label-sampling streams, so both tasks draw differently.
TASK_STREAMS = {None: 0, 'head': 1, 'tail': 2}
LIKELIHOOD = ('sum over the task classes of BCE-with-logits(z + tau * '
              'log_prior_odds, y), nats; no label smoothing, no mixup')
NO_TASK_HEAD = "needs a task head (task='head' or 'tail')"
_ACC_DTYPE = torch.float64

Batch = dict
Grads = Dict[str, Tensor]


# ------------------------------------------------------------ the model
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


def _trainable(model: nn.Module,
               names: Optional[Sequence[str]] = None) -> Dict[str, Tensor]:
    """Detached parameters to differentiate (default: all trainable)."""
    params = dict(model.named_parameters())
    if names is None:
        names = [n for n, p in params.items() if p.requires_grad]
    missing = [n for n in names if n not in params]
    if missing:
        raise ValueError(f'{type(model).__name__} has no parameter '
                         f'{missing[0]!r}')
    return {n: params[n].detach() for n in names}


@contextmanager
def eval_mode(*models: nn.Module) -> Iterator[None]:
    """Put modules in eval mode; restore every submodule's flag on exit."""
    flags = [(m, m.training) for model in models for m in model.modules()]
    for model in models:
        model.eval()
    try:
        yield
    finally:
        for module, flag in flags:
            module.training = flag


# ------------------------------------------------ per-sample gradients
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


def _chunk_grads(model: nn.Module, params: Grads, offset: Tensor,
                 inputs: Tensor, targets: Tensor,
                 uniforms: Optional[Tensor]) -> Tuple[Grads, Optional[Grads]]:
    """Per-sample gradients of one chunk (see :func:`_sample_fn`)."""
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


def _model_dtype(model: nn.Module) -> Tuple[torch.device, torch.dtype]:
    param = next(model.parameters())
    return param.device, param.dtype


def per_sample_task_grads(model: nn.Module,
                          inputs: Tensor,
                          task_targets: Tensor,
                          params: Optional[Sequence[str]] = None,
                          chunk_size: Optional[int] = None) -> Grads:
    """Per-sample gradients of the task's log-likelihood loss.

    The loss of sample ``i`` is ``sum_c BCE-with-logits(z_ic + tau *
    log_odds_c, y_ic)`` over the head's classes (see the module docs). The
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
    device, dtype = _model_dtype(model)
    weights = _trainable(model, params)
    offset = logit_offset(head, dtype).to(device)
    inputs = inputs.to(device, dtype)
    task_targets = task_targets.to(device, dtype)
    step = _check_chunk(chunk_size or max(1, inputs.shape[0]))
    parts = [
        _chunk_grads(model, weights, offset, inputs[s:s + step],
                     task_targets[s:s + step], None)[0]
        for s in range(0, inputs.shape[0], step)
    ]
    return {n: torch.cat([p[n] for p in parts]) for n in weights}


# -------------------------------------------------------- data handling
def _check_chunk(chunk_size: int) -> int:
    return check_int('chunk_size', chunk_size, 1)


def rank_sample_limit(data_loader) -> Optional[int]:
    """Number of genuine (not padded) samples this rank's sampler yields.

    mmengine's ``DefaultSampler(round_up=True)`` and torch's
    ``DistributedSampler(drop_last=False)`` pad the index list to a multiple
    of the world size and give rank ``r`` the positions ``r, r + W, ...``;
    positions ``>= len(dataset)`` are the padding, so rank ``r`` has
    ``len(range(r, len(dataset), W))`` genuine samples, all before the
    padding.

    Args:
        data_loader: A ``DataLoader`` (or anything else: then None).

    Returns:
        int | None: The limit, or None when the sampler does not pad.

    Raises:
        ValueError: For a ``DistributedSampler(drop_last=True)`` that drops
            samples.
    """
    from mmengine.dataset import DefaultSampler
    from torch.utils.data import DistributedSampler

    batch_sampler = getattr(data_loader, 'batch_sampler', None)
    sampler = getattr(batch_sampler, 'sampler', None)
    if sampler is None:
        sampler = getattr(data_loader, 'sampler', None)
    if isinstance(sampler, DistributedSampler):
        size, rank, world = len(sampler.dataset), sampler.rank, \
            sampler.num_replicas
        if sampler.drop_last and size % world:
            raise ValueError('DistributedSampler(drop_last=True) leaves out '
                             f'{size % world} samples; the Fisher pass needs '
                             'every sample (use drop_last=False)')
        return len(range(rank, size, world))
    if isinstance(sampler, DefaultSampler) and sampler.round_up:
        return len(
            range(sampler.rank, len(sampler.dataset), sampler.world_size))
    return None


def sample_limit(data_loader,
                 max_samples: Optional[int] = None) -> Optional[int]:
    """Samples this rank uses: its genuine ones, and at most its share of
    ``max_samples`` in all.

    Rank ``r`` of ``W`` takes ``len(range(r, M, W))`` samples, ``M =
    min(max_samples, len(dataset))``: the first ``M`` positions of the
    sampler's global order, each once over all ranks. With a shuffling
    sampler that is a random subset fixed by the sampler's seed.

    Args:
        data_loader: A ``DataLoader``.
        max_samples (int, optional): Samples in all (all ranks); None: every
            genuine sample (:func:`rank_sample_limit`).

    Returns:
        int | None: This rank's limit, or None for no limit.

    Raises:
        ValueError: If ``max_samples`` is not an int >= 1.
    """
    limit = rank_sample_limit(data_loader)
    if max_samples is None:
        return limit
    check_int('max_samples', max_samples, 1)
    rank, world = 0, 1
    if torch_dist.is_available() and torch_dist.is_initialized():
        rank, world = torch_dist.get_rank(), torch_dist.get_world_size()
    size = _dataset_size(data_loader)
    total = max_samples if size is None else min(max_samples, size)
    own = len(range(rank, total, world))
    return own if limit is None else min(limit, own)


def _dataset_size(data_loader) -> Optional[int]:
    dataset = getattr(data_loader, 'dataset', None)
    try:
        return None if dataset is None else len(dataset)
    except TypeError:
        return None


def _batches_limited(data_loader: Iterable[Batch],
                     max_samples: Optional[int]) -> Iterator[Batch]:
    """Raw batches, cut so that at most ``max_samples`` samples pass."""
    seen = 0
    for batch in data_loader:
        if max_samples is not None and seen >= max_samples:
            return
        size = len(batch['data_samples'])
        if max_samples is not None and seen + size > max_samples:
            size = max_samples - seen
            batch = {key: value[:size] for key, value in batch.items()}
        seen += size
        yield batch


def _preprocess(model: nn.Module, batch: Batch) -> Tuple[Tensor, list]:
    """``data_preprocessor(batch, training=False)``: inputs and samples."""
    device, dtype = _model_dtype(model)
    data = model.data_preprocessor(batch, False)
    inputs, samples = data['inputs'], data.get('data_samples')
    if not isinstance(inputs, Tensor) or not samples:
        raise ValueError('the Fisher pass needs batches with `inputs` and '
                         'labelled `data_samples`')
    return inputs.to(device, dtype), samples


def _sample_ids(samples: list, start: int) -> List[int]:
    """``sample_idx`` of the samples, else stream positions from ``start``."""
    ids = [s.metainfo.get('sample_idx') for s in samples]
    if any(i is None for i in ids):
        return list(range(start, start + len(samples)))
    return [int(i) for i in ids]


def _all_reduce(tensors: Iterable[Tensor]) -> None:
    if torch_dist.is_available() and torch_dist.is_initialized():
        for tensor in tensors:
            torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.SUM)


def _reduced_count(count: int, device: torch.device) -> int:
    total = torch.tensor([float(count)], dtype=_ACC_DTYPE, device=device)
    _all_reduce([total])
    return int(round(float(total)))


def _check_total(num_samples: int, data_loader,
                 max_samples: Optional[int]) -> None:
    if num_samples == 0:
        raise ValueError('the Fisher pass saw no sample (empty data loader)')
    expected = _dataset_size(data_loader)
    if expected is not None and max_samples is not None:
        expected = min(expected, max_samples)
    if expected is not None and expected != num_samples:
        warnings.warn(f'the Fisher pass averaged over {num_samples} samples '
                      f'but the dataset has {expected} (drop_last, or a '
                      'sampler that repeats or skips samples?)')


def _new_sums(params: Grads) -> Grads:
    return {
        n: torch.zeros_like(p, dtype=_ACC_DTYPE)
        for n, p in params.items()
    }


def _add_square_sums(sums: Grads, grads: Grads) -> None:
    for name, grad in grads.items():
        sums[name] += grad.square().sum(0, dtype=_ACC_DTYPE)


def _means(sums: Grads, count: int) -> Grads:
    return {n: (s / count).cpu() for n, s in sums.items()}


# ------------------------------------------------------------ statistics
def fisher_statistics(model: nn.Module,
                      data_loader: Iterable[Batch],
                      task: Optional[str] = None,
                      num_model_samples: int = 1,
                      seed: int = 0,
                      chunk_size: int = 32,
                      max_samples: Optional[int] = None) -> dict:
    """Score variance ``v`` and model Fisher ``h`` of one task model.

    Runs the model in eval mode (restored afterwards) over the batches,
    applies ``model.data_preprocessor(batch, training=False)`` and the
    head's ``task_targets``, and averages per-sample squared gradients (see
    the module docs). Sums are float64 on the model's device and are
    all-reduced under ``torch.distributed``.

    Args:
        model (nn.Module): ``ImageClassifier`` with a task head (unwrapped,
            not the DDP wrapper).
        data_loader (Iterable[dict]): Batches as an mmengine ``DataLoader``
            yields them; use the test pipeline (no random augmentation).
        task (str, optional): The task the head must have; None takes the
            head's.
        num_model_samples (int): Label vectors ``M`` drawn per sample for
            ``h``. Defaults to 1.
        seed (int): Seed of the label draws. Defaults to 0.
        chunk_size (int): Samples per ``vmap`` call. Defaults to 32.
        max_samples (int, optional): Use at most this many samples in all
            (over all ranks: the first ones of the sampler's order, see
            :func:`sample_limit`); default every sample (the padding of
            distributed samplers is skipped).

    Returns:
        dict: ``v`` and ``h`` (``{name: float64 CPU tensor}``, every
        trainable parameter), ``num_samples`` (``N``, all ranks), ``task``,
        ``num_model_samples`` and ``seed``.

    Example:
        >>> stats = fisher_statistics(model, loader, 'head')  # doctest: +SKIP
        >>> stats['v']['head.layers.head.weight'].shape  # doctest: +SKIP
        torch.Size([5, 192])
    """
    head = task_head(model, task)
    _check_chunk(chunk_size)
    check_int('num_model_samples', num_model_samples, 1)
    rank_limit = sample_limit(data_loader, max_samples)
    device, dtype = _model_dtype(model)
    stream = TASK_STREAMS[head.task]
    count = 0
    with eval_mode(model):
        params = _trainable(model)
        offset = logit_offset(head, dtype).to(device)
        v_sum, h_sum = _new_sums(params), _new_sums(params)
        for batch in _batches_limited(data_loader, rank_limit):
            inputs, samples = _preprocess(model, batch)
            ids = _sample_ids(samples, count)
            targets = head.task_targets(samples).to(device, dtype)
            uniforms = label_uniforms(ids, num_model_samples, offset.numel(),
                                      seed, stream).to(device, dtype)
            for s in range(0, len(ids), chunk_size):
                sl = slice(s, s + chunk_size)
                true, drawn = _chunk_grads(model, params, offset, inputs[sl],
                                           targets[sl], uniforms[sl])
                _add_square_sums(v_sum, true)
                for name, value in drawn.items():
                    h_sum[name] += value.sum(0, dtype=_ACC_DTYPE)
            count += len(ids)
    _all_reduce(list(v_sum.values()) + list(h_sum.values()))
    num_samples = _reduced_count(count, device)
    _check_total(num_samples, data_loader, max_samples)
    return dict(
        v=_means(v_sum, num_samples),
        h=_means(h_sum, num_samples),
        num_samples=num_samples,
        task=head.task,
        num_model_samples=num_model_samples,
        seed=seed)


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


def _check_cross_models(model_head: nn.Module, model_tail: nn.Module) -> None:
    """Both task models must share the body layout and the class split."""
    head_a = task_head(model_head, 'head', 'cross_task_statistics')
    head_b = task_head(model_tail, 'tail', 'cross_task_statistics')
    if body_fingerprint(model_head) != body_fingerprint(model_tail):
        raise ValueError('cross_task_statistics: the two models have '
                         'different backbones (parameter names/shapes)')
    if not torch.equal(head_a.class_counts.cpu(), head_b.class_counts.cpu()):
        raise ValueError('cross_task_statistics: the two heads hold '
                         'different class_counts (another class split)')
    layers_a, layers_b = param_layer_map(model_head), param_layer_map(
        model_tail)
    body_a = {n for n, layer in layers_a.items() if layer > 0}
    body_b = {n for n, layer in layers_b.items() if layer > 0}
    if body_a != body_b:
        name = sorted(body_a ^ body_b)[0]
        raise ValueError(f'cross_task_statistics: body parameter {name!r} '
                         'is trainable in only one of the two models')


def cross_task_statistics(model_head: nn.Module,
                          model_tail: nn.Module,
                          data_loader: Iterable[Batch],
                          chunk_size: int = 32,
                          max_samples: Optional[int] = None) -> dict:
    """Cross-task score covariance ``k = mean_i g_A,i * g_B,i``.

    Both task models see the same batches (same samples, same
    deterministic augmentation); each gradient is taken at its own model
    with the true task target. Only parameters with the same name and shape
    in both models are covered (:func:`shared_param_names`: the heads drop
    out when ``K`` is odd; the proxy never uses ``k`` of group 0).

    Args:
        model_head (nn.Module): Task-A model (``task='head'``).
        model_tail (nn.Module): Task-B model (``task='tail'``).
        data_loader (Iterable[dict]): Batches, test pipeline.
        chunk_size (int): Samples per ``vmap`` call. Defaults to 32.
        max_samples (int, optional): As in :func:`fisher_statistics`.

    Returns:
        dict: ``k`` (``{name: float64 CPU tensor}``) and ``num_samples``.

    Example:
        >>> cross = cross_task_statistics(
        ...     m_head, m_tail, loader)  # doctest: +SKIP
        >>> save_cross_stats('fisher_cross.pth', cross)  # doctest: +SKIP
    """
    _check_cross_models(model_head, model_tail)
    _check_chunk(chunk_size)
    rank_limit = sample_limit(data_loader, max_samples)
    names = shared_param_names(model_head, model_tail)
    device, dtype = _model_dtype(model_head)
    count = 0
    with eval_mode(model_head, model_tail):
        models = (model_head, model_tail)
        params = [_trainable(m, names) for m in models]
        offsets = [logit_offset(m.head, dtype).to(device) for m in models]
        k_sum = _new_sums(params[0])
        for batch in _batches_limited(data_loader, rank_limit):
            data = [_preprocess(m, batch) for m in models]
            inputs = data[0][0]
            if not torch.equal(inputs, data[1][0]):
                raise ValueError('cross_task_statistics: the two models\' '
                                 'data preprocessors give different inputs')
            targets = [
                m.head.task_targets(samples).to(device, dtype)
                for m, (_, samples) in zip(models, data)
            ]
            for s in range(0, inputs.shape[0], chunk_size):
                sl = slice(s, s + chunk_size)
                g_a, g_b = (
                    _chunk_grads(m, p, o, inputs[sl], t[sl], None)[0]
                    for m, p, o, t in zip(models, params, offsets, targets))
                for name in names:
                    k_sum[name] += (g_a[name] * g_b[name]).sum(
                        0, dtype=_ACC_DTYPE)
            count += inputs.shape[0]
    _all_reduce(k_sum.values())
    num_samples = _reduced_count(count, device)
    _check_total(num_samples, data_loader, max_samples)
    return dict(
        k=_means(k_sum, num_samples),
        num_samples=num_samples,
        meta=dict(
            fingerprint=body_fingerprint(model_head),
            num_classes=int(model_head.head.num_classes),
            class_counts=model_head.head.class_counts.tolist(),
            head_class_ids=model_head.head.class_ids.tolist(),
            tail_class_ids=model_tail.head.class_ids.tolist()))


# ---------------------------------------------------------- validation
def check_statistics(stats: Dict[str, Grads],
                     keys: Sequence[str] = ('v', 'h'),
                     nonzero: bool = True) -> None:
    """Raise on non-finite statistics or an all-zero Fisher.

    Args:
        stats (dict): ``{key: {name: Tensor}}`` (e.g. the output of
            :func:`fisher_statistics`).
        keys (Sequence[str]): The entries to check. Defaults to
            ``('v', 'h')``.
        nonzero (bool): Also require each entry to be nonzero somewhere.

    Raises:
        ValueError: Naming the entry and the parameter.
    """
    for key in keys:
        tensors = stats[key]
        for name, value in tensors.items():
            if not torch.isfinite(value).all():
                bad = int((~torch.isfinite(value)).sum())
                raise ValueError(f'{key}[{name!r}] has {bad} non-finite '
                                 'entries (NaN/inf weights or inputs?)')
        if nonzero and not any(bool((t != 0).any()) for t in tensors.values()):
            raise ValueError(f'{key} is zero for every parameter '
                             f'({len(tensors)} tensors): the Fisher pass saw '
                             'no gradient signal')
