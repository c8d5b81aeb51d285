"""The stage-1 statistics of one task, ``fisher_<task>.pth``.

Saved with ``torch.save`` (and loaded with ``weights_only=True``, so it may
only hold tensors and plain Python types)::

    dict(
        format_version=1,
        task='head' | 'tail',         # head = task A, tail = task B
        num_samples=N,                # int > 0, images the averages ran over
        num_layers=L,                 # int >= 1, body layers
        param_layers={name: layer},   # 0 = never shared (final norm + head),
                                      # 1..L = body layer (stem in 1)
        params={name: Tensor},        # theta_hat (the stage-1 optimum)
        v={name: Tensor},             # mean_i g_i^2: diag. empirical Fisher
        h={name: Tensor},             # model Fisher: labels drawn from the
                                      # model's own Bernoulli probabilities
        meta=dict(...),               # free-form: model class names, class
                                      # ids of the task, num_classes, ...
        sgd_noise={name: Tensor},     # OPTIONAL: 0.5 (theta^(1) -
                                      # theta^(2))^2 of two seeds of the task
        train_size=N_train,           # OPTIONAL int > 0: training images of
                                      # the stage-1 fit, the proxy's N when
                                      # the averages ran over other images
                                      # (default: num_samples)
    )

``g_i`` is the per-sample gradient of the task's log-likelihood loss, i.e.
the **sum** (not the mean) of the BCE terms over the task's classes, in nats,
and ``v``/``h`` are averages over the ``N`` samples (proxy.md section 4).
All three dicts ``params``, ``v``, ``h`` (and ``sgd_noise`` if given) hold
the same names, each with a ``param_layers`` entry, and ``v``, ``h``,
``sgd_noise`` have the shapes of ``params``. How two task files pair:
:mod:`.pairing`.
"""
from dataclasses import dataclass, field
from typing import Dict, Optional

import torch
from torch import nn

from mmpretrain_osdtw.utils import check_int
from .model_parts import TASKS, TaskModelRecord, plain
from .per_sample import Grads
from .stats_files import (FORMAT_VERSION, StatsFile, check_keys,
                          check_tensor_dict, read_stats_file)
from .validation import check_statistics

TASK_KEYS = ('format_version', 'task', 'num_samples', 'num_layers',
             'param_layers', 'params', 'v', 'h')


@dataclass(eq=False)
class TaskStats(StatsFile):
    """The content of ``fisher_<task>.pth``, checked (see the module docs).

    Attributes:
        task (str): ``'head'`` or ``'tail'``.
        num_samples (int): ``N`` of the averages.
        num_layers (int): ``L``.
        param_layers (dict[str, int]): Layer ``0..L`` of every tensor.
        params (dict[str, Tensor]): ``theta_hat``.
        v (dict[str, Tensor]): Diagonal empirical Fisher.
        h (dict[str, Tensor]): Model Fisher.
        meta (dict): Free-form plain-typed meta data.
        sgd_noise (dict[str, Tensor], optional): Optimisation noise.
        train_size (int, optional): The proxy's ``N`` when not
            ``num_samples``.
        path (str, optional): The file, named by the messages (not part of
            the content).

    Example:
        >>> stats = TaskStats.load('fisher_head.pth', 'head')  # doctest: +SKIP
        >>> stats.num_samples  # doctest: +SKIP
        1000
    """
    task: str
    num_samples: int
    num_layers: int
    param_layers: Dict[str, int]
    params: Grads
    v: Grads
    h: Grads
    meta: dict = field(default_factory=dict)
    sgd_noise: Optional[Grads] = None
    train_size: Optional[int] = None
    path: Optional[str] = field(default=None, repr=False)
    unsaved_name = 'task statistics'

    @property
    def proxy_num_samples(self) -> int:
        """The proxy's ``N``: ``train_size``, else ``num_samples``."""
        return self.num_samples if self.train_size is None \
            else self.train_size

    def validate(self) -> None:
        """Raise ``ValueError`` (naming the file and the key) unless the
        content is in the documented format."""
        where = f'{self.where}: '
        if self.task not in TASKS:
            raise ValueError(f'{where}task is {self.task!r}, expected one of '
                             f'{TASKS}')
        check_int('num_samples', self.num_samples, 1, where)
        if self.train_size is not None:
            check_int('train_size', self.train_size, 1, where)
        num_layers = check_int('num_layers', self.num_layers, 1, where)
        layers = self.param_layers
        if not isinstance(layers, dict) or not layers:
            raise ValueError(f'{where}param_layers must be a non-empty dict '
                             '{name: layer id}')
        for name, layer in layers.items():
            if isinstance(layer, bool) or not isinstance(layer, int) \
                    or not 0 <= layer <= num_layers:
                raise ValueError(f'{where}param_layers[{name!r}] = '
                                 f'{layer!r} is outside 0..{num_layers}')
        for key in ('params', 'v', 'h', 'sgd_noise'):
            value = getattr(self, key)
            if value is not None:
                check_tensor_dict(value, self.where, key, list(layers))
        for key in ('v', 'h', 'sgd_noise'):
            tensors = getattr(self, key)
            for name in layers if tensors is not None else ():
                own, shape = tensors[name].shape, self.params[name].shape
                if own != shape:
                    raise ValueError(
                        f'{where}{key}[{name!r}] has shape {tuple(own)}, '
                        f'params[{name!r}] has {tuple(shape)}')

    def to_dict(self) -> dict:
        """The file's content, ready for ``torch.save``."""
        obj = dict(
            format_version=FORMAT_VERSION,
            task=self.task,
            num_samples=self.num_samples,
            num_layers=self.num_layers,
            param_layers=self.param_layers,
            params=self.params,
            v=self.v,
            h=self.h,
            meta=self.meta)
        if self.sgd_noise is not None:
            obj['sgd_noise'] = self.sgd_noise
        if self.train_size is not None:
            obj['train_size'] = self.train_size
        return obj

    @classmethod
    def from_dict(cls,
                  obj: dict,
                  path: Optional[str] = None,
                  task: Optional[str] = None) -> 'TaskStats':
        """Check a file's content (``path`` names it in the messages; with
        ``task``, it must hold that task)."""
        where = path or cls.unsaved_name
        check_keys(obj, where, TASK_KEYS)
        if task is not None and obj['task'] != task:
            raise ValueError(f'{where}: task is {obj["task"]!r}, expected '
                             f'{task!r} (head and tail files swapped?)')
        fields = {key: obj[key] for key in TASK_KEYS[1:]}
        for key in ('sgd_noise', 'train_size'):
            fields[key] = obj.get(key)
        return cls(**fields, meta=obj.get('meta') or {}, path=path)

    @classmethod
    def load(cls, path: str, task: str) -> 'TaskStats':
        """Read and check ``path``, which must hold ``task``.

        Raises:
            FileNotFoundError: If the file is missing.
            ValueError: If the content is not in the documented format or
                holds the other task (names the file and the key).
        """
        return cls.from_dict(read_stats_file(path), path, task)

    @classmethod
    def from_model(cls,
                   model: nn.Module,
                   stats: dict,
                   sgd_noise: Optional[Grads] = None,
                   meta: Optional[dict] = None,
                   dtype: torch.dtype = torch.float32,
                   train_size: Optional[int] = None) -> 'TaskStats':
        """The statistics file of ``model``.

        Args:
            model (nn.Module): The task model ``stats`` were computed on.
            stats (dict): Output of
                :func:`~.statistics.fisher_statistics`.
            sgd_noise (dict, optional): ``{name: Tensor}`` optimisation
                noise.
            meta (dict, optional): Extra plain-typed meta entries.
            dtype (torch.dtype): Storage dtype of ``v``, ``h``,
                ``sgd_noise``.
            train_size (int, optional): Training samples of the stage-1
                fit (the proxy's ``N``) when the statistics were averaged
                over other samples.

        Raises:
            ValueError: If ``stats`` and the model disagree, or on
                non-finite or all-zero statistics.
        """
        record = TaskModelRecord.of(model, stats.get('task'))
        layers = record.param_layers
        missing = [
            n for n in layers if n not in stats['v'] or n not in stats['h']
        ]
        extra = sorted(set(stats['v']) - set(layers))
        if missing or extra:
            raise ValueError('statistics and model disagree at parameter '
                             f'{(missing or extra)[0]!r}')
        check_statistics(stats)
        info = dict(record.meta)
        info.update(
            num_model_samples=stats.get('num_model_samples'),
            seed=stats.get('seed'))
        info.update(plain(meta or {}))

        def stored(tensors: Grads) -> Grads:
            return {n: tensors[n].to('cpu', dtype) for n in layers}

        return cls(
            task=record.task,
            num_samples=int(stats['num_samples']),
            num_layers=record.num_layers,
            param_layers=dict(layers),
            params=record.params,
            v=stored(stats['v']),
            h=stored(stats['h']),
            meta=info,
            sgd_noise=None if sgd_noise is None else stored(sgd_noise),
            train_size=train_size)


def save_task_stats(path: str, model: nn.Module, stats: dict,
                    **kwargs) -> None:
    """Write ``fisher_<task>.pth`` atomically: :meth:`TaskStats.from_model`
    (``kwargs`` as there), then :meth:`TaskStats.save`.

    Example:
        >>> save_task_stats('fisher_head.pth', model, stats)  # doctest: +SKIP
    """
    TaskStats.from_model(model, stats, **kwargs).save(path)


def load_task_stats(path: str, task: str) -> dict:
    """The checked content of ``fisher_<task>.pth`` as a dict
    (:meth:`TaskStats.load`, then :meth:`TaskStats.to_dict`)."""
    return TaskStats.load(path, task).to_dict()
