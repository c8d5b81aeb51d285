"""The stage-1 statistics files: their format, writers and readers.

The one home of the format: stage 1 (:class:`~mmpretrain_osdtw.engine.
hooks.FisherHook`) writes the files with :func:`save_task_stats` /
:func:`save_cross_stats` from the statistics of :mod:`.fisher`; the search
(:mod:`.search`) reads and pairs them with :func:`load_stats`.

**Stage-1 statistics, one file per task**, ``fisher_<task>.pth``, saved with
``torch.save`` (and loaded with ``weights_only=True``, so it may only hold
tensors and plain Python types)::

    dict(
        format_version=1,
        task='head' | 'tail',         # head = task A, tail = task B
        num_samples=N,                # int > 0, images the averages ran over
        train_size=N_train,           # OPTIONAL int > 0: training images of
                                      # the stage-1 fit, the proxy's N when
                                      # the averages ran over other images
                                      # (default: num_samples)
        num_layers=L,                 # int >= 1, body layers
        param_layers={name: layer},   # 0 = never shared (final norm + head),
                                      # 1..L = body layer (stem in 1)
        params={name: Tensor},        # theta_hat (the stage-1 optimum)
        v={name: Tensor},             # mean_i g_i^2: diag. empirical Fisher
        h={name: Tensor},             # model Fisher: labels drawn from the
                                      # model's own Bernoulli probabilities
        sgd_noise={name: Tensor},     # OPTIONAL: 0.5 (theta^(1) -
                                      # theta^(2))^2 of two seeds of the task
        meta=dict(...),               # free-form: model class names, class
                                      # ids of the task, num_classes, ...
    )

``g_i`` is the per-sample gradient of the task's log-likelihood loss, i.e.
the **sum** (not the mean) of the BCE terms over the task's classes, in nats,
and ``v``/``h`` are averages over the ``N`` samples (PROXY_SPEC section 4).
All three dicts ``params``, ``v``, ``h`` (and ``sgd_noise`` if given) hold
the same names, each with a ``param_layers`` entry.

**Pairing the two task files.** Body tensors (layers ``1..L``) must have
the same names, layers and shapes in both files. Group-0 tensors (final
norm + head) are never shared, so the proxy only uses each task's own
decoder variance ``sum_j v_tj / (2 N h_tj)`` for them: a group-0 tensor may
exist in only one file or differ in shape (the task heads have ``K // 2``
and ``K - K // 2`` outputs). Such a tensor enters the proxy as a one-sided
slot named ``'<name> [head only]'`` / ``'<name> [tail only]'`` with the
other task's ``h = v = 0`` (counted as ``zero_one_side`` in the
diagnostics); a group-0 tensor with the same name and shape in both files
is paired as usual.

**Cross-task statistics** (optional), ``fisher_cross.pth``::

    dict(format_version=1,
         k={name: Tensor},             # mean_i g_A,i * g_B,i (same sample,
                                       # same augmentation, each task at its
                                       # own optimum)
         num_samples=N,
         meta=dict(...))               # optional, free-form

``k`` must cover every body tensor; for group-0 tensors paired in both task
files it is optional (unused by the proxy's group-0 cost), and it must not
name a tensor that is not paired.

Without it the cross term is ``k = 0``.

Example:
    >>> save_task_stats('fisher_head.pth', model, stats)  # doctest: +SKIP
    >>> inputs = load_stats('fisher_head.pth', 'fisher_tail.pth',
    ...                     'fisher_cross.pth')  # doctest: +SKIP
"""
import os.path as osp
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from mmpretrain_osdtw.utils import atomic_torch_save, check_int
from .fisher import (LIKELIHOOD, Grads, body_fingerprint, check_statistics,
                     param_layer_map, task_head)
from .proxy import TaskPairStats

FORMAT_VERSION = 1
TASK_KEYS = ('format_version', 'task', 'num_samples', 'num_layers',
             'param_layers', 'params', 'v', 'h')
CROSS_KEYS = ('format_version', 'k', 'num_samples')


# ---------------------------------------------------------- the meta
def _plain(obj):
    """Convert config-like objects to plain Python (for ``weights_only``)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
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
    return _plain(
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


# -------------------------------------------------------------- writing
def task_stats_dict(model: nn.Module,
                    stats: dict,
                    sgd_noise: Optional[Grads] = None,
                    meta: Optional[dict] = None,
                    dtype: torch.dtype = torch.float32,
                    train_size: Optional[int] = None) -> dict:
    """The ``fisher_<task>.pth`` content (see the module docs).

    Args:
        model (nn.Module): The task model ``stats`` were computed on.
        stats (dict): Output of :func:`fisher_statistics`.
        sgd_noise (dict, optional): ``{name: Tensor}`` optimisation noise.
        meta (dict, optional): Extra plain-typed meta entries.
        dtype (torch.dtype): Storage dtype of ``v``, ``h``, ``sgd_noise``.
        train_size (int, optional): Training samples of the stage-1 fit
            (the proxy's ``N``) when the statistics were averaged over
            other samples; stored as ``train_size``.

    Returns:
        dict: Ready for ``torch.save``.
    """
    head = task_head(model, stats.get('task'), 'task_stats_dict')
    layers = param_layer_map(model)
    names = list(stats['v'])
    missing = [n for n in layers if n not in stats['v'] or n not in stats['h']]
    if missing or set(names) - set(layers):
        key = missing[0] if missing else sorted(set(names) - set(layers))[0]
        raise ValueError(f'statistics and model disagree at parameter '
                         f'{key!r}')
    check_statistics(stats)
    params = dict(model.named_parameters())
    info = model_meta(model)
    info.update(
        num_model_samples=stats.get('num_model_samples'),
        seed=stats.get('seed'))
    info.update(_plain(meta or {}))
    obj = dict(
        format_version=FORMAT_VERSION,
        task=head.task,
        num_samples=int(stats['num_samples']),
        num_layers=int(model.backbone.num_layers),
        param_layers=dict(layers),
        params={n: params[n].detach().cpu().clone()
                for n in layers},
        v={n: stats['v'][n].to('cpu', dtype)
           for n in layers},
        h={n: stats['h'][n].to('cpu', dtype)
           for n in layers},
        meta=info)
    if sgd_noise is not None:
        obj['sgd_noise'] = {n: sgd_noise[n].to('cpu', dtype) for n in layers}
    if train_size is not None:
        obj['train_size'] = check_int('train_size', train_size, 1)
    return obj


def save_task_stats(path: str,
                    model: nn.Module,
                    stats: dict,
                    sgd_noise: Optional[Grads] = None,
                    meta: Optional[dict] = None,
                    dtype: torch.dtype = torch.float32,
                    train_size: Optional[int] = None) -> None:
    """Write ``fisher_<task>.pth`` atomically (see :func:`task_stats_dict`).

    Example:
        >>> save_task_stats('fisher_head.pth', model, stats)  # doctest: +SKIP
    """
    obj = task_stats_dict(model, stats, sgd_noise, meta, dtype, train_size)
    atomic_torch_save(obj, path)


def cross_stats_dict(stats: dict,
                     meta: Optional[dict] = None,
                     dtype: torch.dtype = torch.float32) -> dict:
    """The ``fisher_cross.pth`` content (see the module docs).

    Args:
        stats (dict): Output of :func:`cross_task_statistics`.
        meta (dict, optional): Extra plain-typed meta entries.
        dtype (torch.dtype): Storage dtype of ``k``.

    Returns:
        dict: Ready for ``torch.save``.
    """
    check_statistics(stats, keys=('k', ), nonzero=False)
    info = dict(likelihood=LIKELIHOOD)
    info.update(stats.get('meta', {}))
    info.update(meta or {})
    return dict(
        format_version=FORMAT_VERSION,
        k={
            n: t.to('cpu', dtype)
            for n, t in stats['k'].items()
        },
        num_samples=int(stats['num_samples']),
        meta=_plain(info))


def save_cross_stats(path: str,
                     stats: dict,
                     meta: Optional[dict] = None,
                     dtype: torch.dtype = torch.float32) -> None:
    """Write ``fisher_cross.pth`` atomically (see :func:`cross_stats_dict`).

    Example:
        >>> save_cross_stats('fisher_cross.pth', cross)  # doctest: +SKIP
    """
    obj = cross_stats_dict(stats, meta, dtype)
    atomic_torch_save(obj, path)


# ----------------------------------------------------------- reading
@dataclass
class ProxyInputs:
    """Loaded, cross-checked stage-1 statistics, ready for the proxy.

    Attributes:
        stats (list[TaskPairStats]): One entry per parameter tensor, with
            ``h``, ``v``, ``k`` (``None`` without a cross file), ``delta``
            and ``sgd_noise`` (summed over both tasks, or ``None``); a
            group-0 tensor of one task only (or of different shapes) is a
            one-sided entry ``'<name> [head only]'`` / ``'<name> [tail
            only]'`` with zeros for the other task and ``delta2 = 0``.
        num_layers (int): ``L``.
        num_samples (int): The proxy's ``N``: the task files'
            ``train_size`` if they carry it, else their ``num_samples``.
        meta (dict): ``{'head': meta, 'tail': meta}`` of the task files.
        paths (dict): The files read, ``head``/``tail``/``cross``.
    """
    stats: List[TaskPairStats]
    num_layers: int
    num_samples: int
    meta: Dict[str, dict] = field(default_factory=dict)
    paths: Dict[str, Optional[str]] = field(default_factory=dict)

    def for_variant(self, variant: str) -> List[TaskPairStats]:
        """The statistics for ``variant``.

        ``'paper'`` substitutes the empirical Fisher for the Fisher
        (``h := v``) and drops ``v`` and ``k``; ``'full'`` returns
        :attr:`stats` unchanged.
        """
        if variant != 'paper':
            return self.stats
        return [
            replace(s, h_a=s.v_a, h_b=s.v_b, v_a=None, v_b=None, k=None)
            for s in self.stats
        ]


def _load_pth(path: str) -> dict:
    """``torch.load`` a statistics file; clear errors for bad files."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'statistics file {path!r} does not exist')
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # unpickling errors have many types
        raise ValueError(f'{path}: cannot be read as a torch.save file of '
                         f'tensors and plain Python types ({err})') from err
    if not isinstance(obj, dict):
        raise ValueError(f'{path}: expected a dict, got {type(obj).__name__}')
    return obj


def _check_keys(obj: dict, path: str, keys: tuple) -> None:
    """Check the required keys and the format version."""
    for key in keys:
        if key not in obj:
            raise ValueError(f'{path}: missing key {key!r}')
    if obj['format_version'] != FORMAT_VERSION:
        raise ValueError(f'{path}: format_version {obj["format_version"]!r} '
                         f'is not supported (expected {FORMAT_VERSION})')


def _check_int(obj: dict, path: str, key: str, minimum: int) -> int:
    """A required integer entry ``>= minimum``."""
    return check_int(key, obj[key], minimum, f'{path}: ')


def _check_tensor_dict(
        obj: dict,
        path: str,
        key: str,
        names: Sequence[str],
        optional: Sequence[str] = (),
        unknown: str = 'not in param_layers') -> Dict[str, torch.Tensor]:
    """A ``{name: Tensor}`` entry with every one of ``names`` as a key, and
    otherwise only keys of ``optional``; ``unknown`` ends the message for
    another key."""
    value = obj[key]
    if not isinstance(value, dict):
        raise ValueError(f'{path}: {key} must be a dict of tensors')
    missing = [n for n in names if n not in value]
    if missing:
        raise ValueError(f'{path}: {key} has no entry for parameter '
                         f'{missing[0]!r}')
    extra = sorted(set(value) - set(names) - set(optional))
    if extra:
        raise ValueError(f'{path}: {key} has an entry {extra[0]!r} that is '
                         f'{unknown}')
    for name, tensor in value.items():
        if not isinstance(tensor, torch.Tensor):
            raise ValueError(f'{path}: {key}[{name!r}] is not a tensor')
    return value


def load_task_stats(path: str, task: str) -> dict:
    """Read and check one ``fisher_<task>.pth`` file (see module docs).

    Args:
        path (str): The file.
        task (str): The task it must hold, ``'head'`` or ``'tail'``.

    Returns:
        dict: The file's dict.

    Raises:
        FileNotFoundError: If the file is missing.
        ValueError: If the content is not in the documented format (names
            the file and the key).
    """
    obj = _load_pth(path)
    _check_keys(obj, path, TASK_KEYS)
    if obj['task'] != task:
        raise ValueError(f'{path}: task is {obj["task"]!r}, expected '
                         f'{task!r} (head and tail files swapped?)')
    _check_int(obj, path, 'num_samples', 1)
    if 'train_size' in obj:
        _check_int(obj, path, 'train_size', 1)
    num_layers = _check_int(obj, path, 'num_layers', 1)
    layers = obj['param_layers']
    if not isinstance(layers, dict) or not layers:
        raise ValueError(f'{path}: param_layers must be a non-empty dict '
                         '{name: layer id}')
    for name, layer in layers.items():
        if isinstance(layer, bool) or not isinstance(layer, int) \
                or not 0 <= layer <= num_layers:
            raise ValueError(f'{path}: param_layers[{name!r}] = {layer!r} is '
                             f'outside 0..{num_layers}')
    names = list(layers)
    for key in ('params', 'v', 'h'):
        _check_tensor_dict(obj, path, key, names)
    if obj.get('sgd_noise') is not None:
        _check_tensor_dict(obj, path, 'sgd_noise', names)
    for key in ('v', 'h', 'sgd_noise'):
        for name in names if obj.get(key) is not None else ():
            if obj[key][name].shape != obj['params'][name].shape:
                raise ValueError(
                    f'{path}: {key}[{name!r}] has shape '
                    f'{tuple(obj[key][name].shape)}, params[{name!r}] has '
                    f'{tuple(obj["params"][name].shape)}')
    return obj


def _check_meta(head: dict, tail: dict, head_path: str,
                tail_path: str) -> None:
    """Where both files carry them (FisherHook writes them), the model
    fingerprint and training counts must agree and the two tasks' class ids
    must split ``0..K-1`` between them."""
    head_meta, tail_meta = head.get('meta') or {}, tail.get('meta') or {}
    for key, what in (('fingerprint', 'another model'),
                      ('num_classes', 'another class split'),
                      ('class_counts', 'another class split')):
        if key in head_meta and key in tail_meta and \
                head_meta[key] != tail_meta[key]:
            raise ValueError(f'{tail_path}: meta {key!r} differs from '
                             f'{head_path} (statistics of {what})')
    ids = (head_meta.get('class_ids'), tail_meta.get('class_ids'))
    num_classes = head_meta.get('num_classes')
    if None in ids or num_classes is None:
        return
    if sorted(list(ids[0]) + list(ids[1])) != list(range(num_classes)):
        raise ValueError(
            f'{head_path} and {tail_path}: the class ids of the two tasks do '
            f'not split the {num_classes} classes (statistics of another '
            'class split)')


def _check_pair(head: dict, tail: dict, head_path: str,
                tail_path: str) -> None:
    """Check that the two task files describe the same model and data.

    Body tensors (layers ``1..L``) must match in name, layer and shape;
    group-0 tensors may differ in shape or exist in one file only (see the
    module docs). A name in both files must have the same layer.
    """
    _check_meta(head, tail, head_path, tail_path)
    if ('train_size' in head) != ('train_size' in tail):
        has, lacks = (head_path, tail_path) if 'train_size' in head else \
            (tail_path, head_path)
        raise ValueError(f'{lacks}: no train_size, but {has} has one (mixed '
                         'statistics files?)')
    for key in ('num_samples', 'train_size', 'num_layers'):
        if key in head and head[key] != tail[key]:
            raise ValueError(f'{tail_path}: {key} = {tail[key]!r} differs '
                             f'from {head_path} ({head[key]!r})')
    head_layers, tail_layers = head['param_layers'], tail['param_layers']
    for name, layer in head_layers.items():
        if name in tail_layers and tail_layers[name] != layer:
            raise ValueError(
                f'{tail_path}: layer map differs from {head_path} at key '
                f'{name!r} ({tail_layers[name]} vs {layer})')
    head_body = {n for n, layer in head_layers.items() if layer > 0}
    tail_body = {n for n, layer in tail_layers.items() if layer > 0}
    if head_body != tail_body:
        diff = sorted(head_body ^ tail_body)[0]
        where = head_path if diff in head_body else tail_path
        raise ValueError(f'{tail_path}: body parameter names differ from '
                         f'{head_path}; first differing key {diff!r} is '
                         f'only in {where}')
    for name in head_layers:
        if name in head_body and \
                head['params'][name].shape != tail['params'][name].shape:
            raise ValueError(
                f'{tail_path}: params[{name!r}] has shape '
                f'{tuple(tail["params"][name].shape)}, {head_path} has '
                f'{tuple(head["params"][name].shape)} (body tensors of '
                'both tasks must match)')


def _pair_names(head: dict,
                tail: dict) -> Tuple[List[str], List[str], List[str]]:
    """Paired names, head-only and tail-only group-0 names (file order).

    A name is paired when both files have it with the same shape (always
    true for body tensors after :func:`_check_pair`).
    """

    def paired(name: str) -> bool:
        return name in tail['param_layers'] and \
            head['params'][name].shape == tail['params'][name].shape

    both = [n for n in head['param_layers'] if paired(n)]
    head_only = [n for n in head['param_layers'] if not paired(n)]
    tail_only = [
        n for n in tail['param_layers']
        if n not in head['param_layers'] or not paired(n)
    ]
    return both, head_only, tail_only


def load_cross_stats(
    path: str,
    names: List[str],
    shapes: Dict[str, torch.Size],
    num_samples: int,
    optional_names: Sequence[str] = ()
) -> Dict[str, torch.Tensor]:
    """Read and check ``fisher_cross.pth`` against the task files.

    Args:
        path (str): The file.
        names (list[str]): Parameter names ``k`` must cover (the body).
        shapes (dict): Shapes of ``names`` and ``optional_names``.
        num_samples (int): ``N`` of the task files.
        optional_names (Sequence[str]): Names ``k`` may cover (paired
            group-0 tensors). Defaults to none.

    Returns:
        dict[str, Tensor]: ``k`` per parameter (optional names may be
        absent).
    """
    obj = _load_pth(path)
    _check_keys(obj, path, CROSS_KEYS)
    if obj['num_samples'] != num_samples:
        raise ValueError(f'{path}: num_samples = {obj["num_samples"]!r} '
                         f'differs from the task files ({num_samples})')
    k = _check_tensor_dict(
        obj, path, 'k', names, optional_names,
        'not a parameter of both task files (with one shape)')
    for name, value in k.items():
        if value.shape != shapes[name]:
            raise ValueError(f'{path}: k[{name!r}] has shape '
                             f'{tuple(value.shape)}, expected '
                             f'{tuple(shapes[name])}')
    return k


def _delta(theta_a: torch.Tensor, theta_b: torch.Tensor) -> torch.Tensor:
    """``theta_A - theta_B`` subtracted in float64, stored as float32."""
    return (theta_a.double() - theta_b.double()).float()


def _one_sided(obj: dict, name: str, task: str) -> TaskPairStats:
    """A group-0 tensor of one task only: the other side has ``h = v = 0``.

    The proxy then charges only this task's decoder variance
    ``v / (2 N h)`` for it (group 0 is never shared).
    """
    h, v = obj['h'][name], obj['v'][name]
    zeros = torch.zeros_like(h)
    own, other = dict(h=h, v=v), dict(h=zeros, v=zeros)
    side_a, side_b = (own, other) if task == 'head' else (other, own)
    return TaskPairStats(
        name=f'{name} [{task} only]',
        layer=0,
        h_a=side_a['h'],
        h_b=side_b['h'],
        v_a=side_a['v'],
        v_b=side_b['v'],
        delta2=zeros)


def load_stats(head_path: str,
               tail_path: str,
               cross_path: Optional[str] = None) -> ProxyInputs:
    """Load the stage-1 statistics of both tasks (and the cross term).

    Args:
        head_path (str): ``fisher_head.pth`` (task A).
        tail_path (str): ``fisher_tail.pth`` (task B).
        cross_path (str, optional): ``fisher_cross.pth``; without it
            ``k = 0``.

    Returns:
        ProxyInputs: Per-tensor statistics in ``param_layers`` order of the
        head file, then the tail file's group-0 tensors that are not paired
        (one-sided entries, see the module docs).

    Raises:
        FileNotFoundError: If a file is missing.
        ValueError: If a file is malformed or the files disagree (names the
            file and the first differing key).

    Example:
        >>> inputs = load_stats('fisher_head.pth', 'fisher_tail.pth',
        ...                     'fisher_cross.pth')  # doctest: +SKIP
        >>> grid = proxy_grid(inputs.stats, inputs.num_layers,
        ...                   inputs.num_samples)  # doctest: +SKIP
    """
    head = load_task_stats(head_path, 'head')
    tail = load_task_stats(tail_path, 'tail')
    _check_pair(head, tail, head_path, tail_path)
    both, _, tail_only = _pair_names(head, tail)
    shapes = {n: head['params'][n].shape for n in both}
    cross = None
    if cross_path is not None:
        cross = load_cross_stats(
            cross_path, [n for n in both if head['param_layers'][n] > 0],
            shapes,
            head['num_samples'],
            optional_names=[n for n in both if head['param_layers'][n] == 0])
    paired = {}
    for name in both:
        noise = [
            t['sgd_noise'][name] for t in (head, tail)
            if t.get('sgd_noise') is not None
        ]
        paired[name] = TaskPairStats(
            name=name,
            layer=head['param_layers'][name],
            h_a=head['h'][name],
            h_b=tail['h'][name],
            v_a=head['v'][name],
            v_b=tail['v'][name],
            k=None if cross is None else cross.get(name),
            delta=_delta(head['params'][name], tail['params'][name]),
            sgd_noise=sum(noise[1:], noise[0]) if noise else None)
    stats = [
        paired[n] if n in paired else _one_sided(head, n, 'head')
        for n in head['param_layers']
    ] + [_one_sided(tail, n, 'tail') for n in tail_only]
    return ProxyInputs(
        stats=stats,
        num_layers=head['num_layers'],
        num_samples=head.get('train_size', head['num_samples']),
        meta=dict(head=head.get('meta', {}), tail=tail.get('meta', {})),
        paths=dict(head=head_path, tail=tail_path, cross=cross_path))
