"""The task statistics ``v``, ``h`` and the cross-task ``k``.

Both run one accumulation loop (:func:`_accumulate`): the models in eval
mode over this rank's samples (:mod:`.sampling`), a batch preprocessed once
and cut into chunks of per-sample gradients (:mod:`.per_sample`), float64
sums on the model's device, ``all_reduce``-d with the sample count under
``torch.distributed`` before dividing, so every rank gets the
single-process result.
"""
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, List, Optional, Sequence

import torch
import torch.distributed as torch_dist
from torch import Tensor, nn

from mmpretrain_osdtw.utils import check_int
from .model_parts import (body_fingerprint, check_task_pair, logit_offset,
                          shared_param_names, task_head)
from .per_sample import (TASK_STREAMS, Grads, check_chunk, chunk_grads,
                         label_uniforms, model_device_dtype, trainable)
from .sampling import Batch, batches_limited, check_total, sample_limit

_ACC_DTYPE = torch.float64
#: ``add_chunk(inputs, targets, sample_ids)``, targets one per model.
ChunkFn = Callable[[Tensor, List[Tensor], List[int]], None]


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


def _all_reduce(tensors: Iterable[Tensor]) -> None:
    if torch_dist.is_available() and torch_dist.is_initialized():
        for tensor in tensors:
            torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.SUM)


def _sample_ids(samples: list, start: int) -> List[int]:
    """``sample_idx`` of the samples, else stream positions from ``start``."""
    ids = [s.metainfo.get('sample_idx') for s in samples]
    if any(i is None for i in ids):
        return list(range(start, start + len(samples)))
    return [int(i) for i in ids]


def _preprocess(models: Sequence[nn.Module], batch: Batch):
    """Inputs (the same for every model) and each model's task targets."""
    device, dtype = model_device_dtype(models[0])
    inputs, targets, samples = None, [], None
    for model in models:
        data = model.data_preprocessor(batch, False)
        x, samples = data['inputs'], data.get('data_samples')
        if not isinstance(x, Tensor) or not samples:
            raise ValueError('the Fisher pass needs batches with `inputs` '
                             'and labelled `data_samples`')
        x = x.to(device, dtype)
        if inputs is not None and not torch.equal(inputs, x):
            raise ValueError('cross_task_statistics: the two models\' data '
                             'preprocessors give different inputs')
        inputs = x
        targets.append(model.head.task_targets(samples).to(device, dtype))
    return inputs, targets, samples


def _new_sums(params: Grads) -> Grads:
    return {
        n: torch.zeros_like(p, dtype=_ACC_DTYPE)
        for n, p in params.items()
    }


def _add(sums: Grads, terms: Grads) -> None:
    """``sums[name] += terms[name].sum(0)`` in float64."""
    for name, term in terms.items():
        sums[name] += term.sum(0, dtype=_ACC_DTYPE)


def _accumulate(models: Sequence[nn.Module], data_loader: Iterable[Batch],
                sums: Sequence[Grads], add_chunk: ChunkFn, chunk_size: int,
                max_samples: Optional[int]) -> int:
    """Feed every chunk of this rank's samples to ``add_chunk`` (models in
    eval mode), all-reduce ``sums``; return the sample count (all ranks)."""
    rank_limit = sample_limit(data_loader, max_samples)
    device = model_device_dtype(models[0])[0]
    count = 0
    with eval_mode(*models):
        for batch in batches_limited(data_loader, rank_limit):
            inputs, targets, samples = _preprocess(models, batch)
            ids = _sample_ids(samples, count)
            for s in range(0, len(ids), chunk_size):
                sl = slice(s, s + chunk_size)
                add_chunk(inputs[sl], [t[sl] for t in targets], ids[sl])
            count += len(ids)
    total = torch.tensor([float(count)], dtype=_ACC_DTYPE, device=device)
    _all_reduce([t for grads in sums for t in grads.values()] + [total])
    num_samples = int(round(float(total)))
    check_total(num_samples, data_loader, max_samples)
    return num_samples


def _means(sums: Grads, count: int) -> Grads:
    return {n: (s / count).cpu() for n, s in sums.items()}


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
    the package docs). Sums are float64 on the model's device and are
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
            :func:`~.sampling.sample_limit`); default every sample (the
            padding of distributed samplers is skipped).

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
    check_chunk(chunk_size)
    check_int('num_model_samples', num_model_samples, 1)
    device, dtype = model_device_dtype(model)
    params = trainable(model)
    offset = logit_offset(head, dtype).to(device)
    v_sum, h_sum = _new_sums(params), _new_sums(params)

    def add_chunk(inputs: Tensor, targets: List[Tensor], ids: List[int]):
        uniforms = label_uniforms(ids, num_model_samples, offset.numel(), seed,
                                  TASK_STREAMS[head.task])
        true, drawn = chunk_grads(model, params, offset, inputs, targets[0],
                                  uniforms.to(device, dtype))
        _add(v_sum, {n: g.square() for n, g in true.items()})
        _add(h_sum, drawn)

    num_samples = _accumulate([model], data_loader, [v_sum, h_sum], add_chunk,
                              chunk_size, max_samples)
    return dict(
        v=_means(v_sum, num_samples),
        h=_means(h_sum, num_samples),
        num_samples=num_samples,
        task=head.task,
        num_model_samples=num_model_samples,
        seed=seed)


def cross_task_statistics(model_head: nn.Module,
                          model_tail: nn.Module,
                          data_loader: Iterable[Batch],
                          chunk_size: int = 32,
                          max_samples: Optional[int] = None) -> dict:
    """Cross-task score covariance ``k = mean_i g_A,i * g_B,i``.

    Both task models see the same batches (same samples, same
    deterministic augmentation); each gradient is taken at its own model
    with the true task target. Only parameters with the same name and shape
    in both models are covered (:func:`~.model_parts.shared_param_names`:
    the heads drop out when ``K`` is odd; the proxy never uses ``k`` of
    group 0).

    Args:
        model_head (nn.Module): Task-A model (``task='head'``).
        model_tail (nn.Module): Task-B model (``task='tail'``).
        data_loader (Iterable[dict]): Batches, test pipeline.
        chunk_size (int): Samples per ``vmap`` call. Defaults to 32.
        max_samples (int, optional): As in :func:`fisher_statistics`.

    Returns:
        dict: ``k`` (``{name: float64 CPU tensor}``), ``num_samples`` and
        ``meta`` (fingerprint and class split of the two models).

    Example:
        >>> cross = cross_task_statistics(
        ...     m_head, m_tail, loader)  # doctest: +SKIP
        >>> CrossStats.from_statistics(cross).save(
        ...     'fisher_cross.pth')  # doctest: +SKIP
    """
    check_task_pair(model_head, model_tail, 'cross_task_statistics')
    check_chunk(chunk_size)
    models = (model_head, model_tail)
    device, dtype = model_device_dtype(model_head)
    names = shared_param_names(model_head, model_tail)
    params = [trainable(m, names) for m in models]
    offsets = [logit_offset(m.head, dtype).to(device) for m in models]
    k_sum = _new_sums(params[0])

    def add_chunk(inputs: Tensor, targets: List[Tensor], ids: List[int]):
        g_a, g_b = (chunk_grads(m, p, o, inputs, t)[0]
                    for m, p, o, t in zip(models, params, offsets, targets))
        _add(k_sum, {n: g_a[n] * g_b[n] for n in names})

    num_samples = _accumulate(models, data_loader, [k_sum], add_chunk,
                              chunk_size, max_samples)
    return dict(
        k=_means(k_sum, num_samples),
        num_samples=num_samples,
        meta=dict(
            fingerprint=body_fingerprint(model_head),
            num_classes=int(model_head.head.num_classes),
            class_counts=model_head.head.class_counts.tolist(),
            head_class_ids=model_head.head.class_ids.tolist(),
            tail_class_ids=model_tail.head.class_ids.tolist()))
