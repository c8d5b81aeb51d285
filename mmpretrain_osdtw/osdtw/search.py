"""Proxy search over ``(C, w_A)`` from the stage-1 statistics files.

This module owns the stage-1 statistics format (written by the stage-1
Fisher estimation, read here) and the search result format ``search.json``
(written here, read by stage 2).

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

**Search result** ``search.json`` (see :func:`run_search`)::

    {"chosen": {"C": int, "w_A": float, "w_B": float, "proxy": float},
     "variant": "full" | "paper",
     "mismatch": "debiased" | "debiased-positive" | "raw",
     "N": float, "L": int, "w_grid": [...],
     "grid": {"proxy": [[...]], "enc_var": ..., "enc_bias": ...,
              "dec_var": ...},            # rows C = 0..L, columns w_grid
     "per_depth": [{"C", "w_A", "proxy"}, ...],
     "diagnostics": {...}, "inputs": {...}, "timings": {...}}

The ``'paper'`` variant uses the empirical Fisher ``v`` of each task as its
Fisher (``h := v``, ``k = 0``), as the paper does; ``'full'`` uses ``h``,
``v`` and ``k``.
"""
import json
import os.path as osp
import time
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from mmpretrain_osdtw.utils import atomic_write, check_int
from .proxy import (DEFAULT_CHUNK_BYTES, ProxyGrid, TaskPairStats, make_w_grid,
                    proxy_grid)

FORMAT_VERSION = 1
TASK_KEYS = ('format_version', 'task', 'num_samples', 'num_layers',
             'param_layers', 'params', 'v', 'h')
CROSS_KEYS = ('format_version', 'k', 'num_samples')


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


# ----------------------------------------------------------- reading
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


def _check_tensor_dict(obj: dict, path: str, key: str,
                       names: Sequence[str],
                       optional: Sequence[str] = (),
                       unknown: str = 'not in param_layers'
                       ) -> Dict[str, torch.Tensor]:
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


# ----------------------------------------------------------- search
def run_search(head_path: str,
               tail_path: str,
               cross_path: Optional[str] = None,
               w_step: float = 0.01,
               w_min: float = 0.0,
               w_max: float = 1.0,
               variant: str = 'full',
               mismatch: str = 'debiased',
               max_chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> dict:
    """Load the statistics, evaluate the proxy grid and pick ``(C, w_A)``.

    Args:
        head_path (str): ``fisher_head.pth``.
        tail_path (str): ``fisher_tail.pth``.
        cross_path (str, optional): ``fisher_cross.pth`` (``k = 0``
            without it).
        w_step (float): Spacing of the ``w_A`` grid. Defaults to 0.01.
        w_min (float): Smallest ``w_A``. Defaults to 0.
        w_max (float): Largest ``w_A``. Defaults to 1.
        variant (str): ``'full'`` (default) or ``'paper'``.
        mismatch (str): ``'debiased'`` (default), ``'debiased-positive'``
            or ``'raw'`` (see :mod:`.proxy`).
        max_chunk_bytes (int): Memory budget of the proxy's chunks.

    Returns:
        dict: The ``search.json`` content (see the module docstring).
    """
    start = time.perf_counter()
    w_grid = make_w_grid(w_step, w_min, w_max)
    inputs = load_stats(head_path, tail_path, cross_path)
    loaded = time.perf_counter()
    grid = proxy_grid(
        inputs.for_variant(variant),
        inputs.num_layers,
        inputs.num_samples,
        w_grid=w_grid,
        variant=variant,
        mismatch=mismatch,
        max_chunk_bytes=max_chunk_bytes)
    done = time.perf_counter()
    result = grid.to_dict()
    result['N'] = inputs.num_samples
    result['inputs'] = dict(
        inputs.paths, has_cross=cross_path is not None, w_step=w_step)
    result['timings'] = dict(
        load_s=loaded - start, proxy_s=done - loaded, total_s=done - start)
    return result


def result_grid(result: dict) -> ProxyGrid:
    """Rebuild a :class:`ProxyGrid` from a ``search.json`` dict."""
    grid = result['grid']

    def tensor(key: str) -> torch.Tensor:
        return torch.tensor(grid[key], dtype=torch.float64)

    return ProxyGrid(
        tensor('proxy'), tensor('enc_var'), tensor('enc_bias'),
        tensor('dec_var'), torch.tensor(result['w_grid'], dtype=torch.float64),
        int(result['L']), float(result['N']), result['variant'],
        result['mismatch'], result.get('diagnostics', {}))


# ----------------------------------------------------------- writing
def save_search_json(result: dict, path: str) -> None:
    """Write the search result as JSON, atomically.

    Args:
        result (dict): The output of :func:`run_search`.
        path (str): Target file, e.g. ``work_dir/search.json``.
    """

    def write(tmp: str) -> None:
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=1, allow_nan=False)
            f.write('\n')

    atomic_write(path, write)


def plot_heatmap(result: dict, png_path: str) -> None:
    """Plot ``P(C, w_A)`` as a heat map with the argmin marked, atomically.

    Uses matplotlib's Agg canvas directly (no pyplot global state).

    Args:
        result (dict): The output of :func:`run_search`.
        png_path (str): Target PNG file.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import PowerNorm
    from matplotlib.figure import Figure

    proxy = torch.tensor(result['grid']['proxy'], dtype=torch.float64)
    excess = (proxy - proxy.min()).tolist()
    w_grid = result['w_grid']
    num_rows = len(excess)
    fig = Figure(figsize=(8, 1.5 + 0.35 * num_rows))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    half = (w_grid[1] - w_grid[0]) / 2 if len(w_grid) > 1 else 0.5
    top = max(max(row) for row in excess)
    image = ax.imshow(
        excess,
        aspect='auto',
        origin='lower',
        cmap='viridis',
        norm=PowerNorm(gamma=0.35, vmin=0.0, vmax=top if top > 0 else 1.0),
        interpolation='nearest',
        extent=(w_grid[0] - half, w_grid[-1] + half, -0.5, num_rows - 0.5))
    fig.colorbar(image, ax=ax, label='P(C, w_A) - min P  (power scale)')
    best = result['per_depth']
    ax.plot([b['w_A'] for b in best], [b['C'] for b in best],
            marker='o',
            color='white',
            markersize=4,
            linestyle='none',
            label='best w_A per C')
    chosen = result['chosen']
    ax.plot([chosen['w_A']], [chosen['C']],
            marker='*',
            color='red',
            markersize=14,
            markeredgecolor='white',
            linestyle='none',
            label=f"argmin C={chosen['C']}, w_A={chosen['w_A']:g}")
    ax.set_xlabel('w_A (head task weight)')
    ax.set_ylabel('shared depth C')
    ax.set_yticks(range(num_rows))
    ax.set_title(f"OSDTW proxy ({result['variant']}, {result['mismatch']} "
                 f"mismatch, N={result['N']})")
    ax.legend(loc='upper right', fontsize='small')
    fig.tight_layout()
    atomic_write(png_path, lambda tmp: fig.savefig(tmp, format='png', dpi=100))
