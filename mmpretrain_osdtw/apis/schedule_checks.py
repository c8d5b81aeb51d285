"""Pre-flight checks of a config's schedule: the loops' arguments and the
parameter schedulers, which mmengine otherwise only builds once training
has started.

* :func:`check_loop_keys`: every key of ``train_cfg``, ``val_cfg`` and
  ``test_cfg`` must be an argument of the loop class the Runner builds
  from it (``EpochBasedTrainLoop``/``IterBasedTrainLoop`` by ``by_epoch``,
  ``ValLoop``, ``TestLoop`` or the ``type`` looked up in ``LOOPS``), read
  from its constructor's signature. A typo such as ``max_epoch`` is one
  line with the closest argument; mmengine would fail later with a
  ``TypeError`` traceback.
* :func:`check_param_schedulers`: each ``param_scheduler`` is built as the
  Runner builds it (``end`` defaulting to ``train_cfg.max_epochs``, or
  ``max_iters`` for a by-iteration one; by-epoch values converted with the
  epoch length) over a one-parameter optimizer of the config's type. A
  scheduler that cannot run for that many epochs (a cosine ``begin=1``
  after a one-epoch warm-up when ``max_epochs=1``) is one line naming
  ``param_scheduler[i]`` and ``train_cfg.max_epochs``, instead of a
  53-line ``ValueError`` traceback once the Runner has built the model and
  the data and starts training.
"""
import copy
import difflib
import inspect
import math
from typing import Iterator, List, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.runner import (EpochBasedTrainLoop, IterBasedTrainLoop, TestLoop,
                             ValLoop)
from mmpretrain.registry import LOOPS, OPTIMIZERS, PARAM_SCHEDULERS

from mmpretrain_osdtw.utils import InputError

#: The loop configs of a config and the loop built when no ``type`` is set
#: (``train_cfg``: by ``by_epoch``, see :func:`loop_class`).
LOOP_KEYS = ('train_cfg', 'val_cfg', 'test_cfg')
_DEFAULT_LOOPS = dict(val_cfg=ValLoop, test_cfg=TestLoop)
#: Keys that choose the loop rather than configure it (not suggested).
SELECTORS = ('type', 'by_epoch')
#: Constructor arguments the Runner passes itself.
RUNNER_ARGS = ('self', 'runner', 'dataloader', 'evaluator')


def loop_class(key: str, loop_cfg: dict) -> Optional[type]:
    """The loop class the Runner builds from ``loop_cfg``.

    Args:
        key (str): ``'train_cfg'``, ``'val_cfg'`` or ``'test_cfg'``.
        loop_cfg (dict): Its value.

    Returns:
        type | None: The class, or None for a ``type`` that ``LOOPS`` does
        not know (the Runner's own error names it).
    """
    loop_type = loop_cfg.get('type')
    if loop_type is None:
        if key != 'train_cfg':
            return _DEFAULT_LOOPS[key]
        return EpochBasedTrainLoop if loop_cfg.get('by_epoch', True) \
            else IterBasedTrainLoop
    return LOOPS.get(loop_type) if isinstance(loop_type, str) else loop_type


def loop_arguments(key: str, loop_cfg: dict) -> Optional[List[str]]:
    """The keys ``loop_cfg`` may hold, or None when unknown (an unknown
    loop type, or a constructor taking ``**kwargs``)."""
    cls = loop_class(key, loop_cfg)
    if not isinstance(cls, type):
        return None
    params = inspect.signature(cls.__init__).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    names = [p.name for p in params if p.name not in RUNNER_ARGS]
    # without a type the Runner pops ``by_epoch`` to choose the loop
    own = 'type' if 'type' in loop_cfg or key != 'train_cfg' else 'by_epoch'
    return names + [own]


def check_loop_keys(cfg: Config,
                    where: str = '',
                    keys: Tuple[str, ...] = LOOP_KEYS) -> None:
    """Raise if a loop config holds a key its loop does not take.

    Args:
        cfg (Config): The config.
        where (str): Prefix of the message (a pipeline stage).
        keys (tuple[str]): The loop configs to check. Defaults to all.

    Raises:
        InputError: ``'<where>train_cfg.max_epoch is not an argument of
            EpochBasedTrainLoop (did you mean 'max_epochs'?)'``.
    """
    for key in keys:
        loop_cfg = cfg.get(key)
        if not isinstance(loop_cfg, dict):
            continue
        allowed = loop_arguments(key, loop_cfg)
        if allowed is None:
            continue
        for name in loop_cfg:
            if name in allowed:
                continue
            close = difflib.get_close_matches(
                name, [a for a in allowed if a not in SELECTORS], n=1)
            hint = f'did you mean {close[0]!r}?' if close else \
                f'its arguments: {", ".join(sorted(allowed))}'
            raise InputError(f'{where}{key}.{name} is not an argument of '
                             f'{loop_class(key, loop_cfg).__name__} ({hint})')


def epoch_length(loader_cfg: Optional[dict], dataset) -> int:
    """Iterations of one epoch of a single-process loader over
    ``dataset`` (1 when the dataset is not known).

    Args:
        loader_cfg (dict, optional): The ``train_dataloader`` config.
        dataset: The built training set, or None.

    Returns:
        int: ``ceil(len / batch_size)`` (``floor`` with ``drop_last``).
    """
    if dataset is None or not loader_cfg:
        return 1
    batch = loader_cfg.get('batch_size') or 1
    size = len(dataset)
    if loader_cfg.get('drop_last'):
        return max(size // batch, 1)
    return max(math.ceil(size / batch), 1)


def check_param_schedulers(cfg: Config,
                           iters_per_epoch: int = 1,
                           where: str = '') -> None:
    """Build the config's parameter schedulers as the Runner would; raise
    if one cannot run with ``train_cfg``'s length.

    Only for ``EpochBasedTrainLoop``/``IterBasedTrainLoop`` training
    (their subclasses included) with ``max_epochs``/``max_iters`` set.

    Args:
        cfg (Config): The config.
        iters_per_epoch (int): The training loader's length
            (:func:`epoch_length`).
        where (str): Prefix of the message (a pipeline stage).

    Raises:
        InputError: Naming ``param_scheduler[i]`` and
            ``train_cfg.max_epochs`` (or ``max_iters``), with the
            scheduler's own reason.
    """
    train_cfg = cfg.get('train_cfg')
    schedulers = cfg.get('param_scheduler')
    if not isinstance(train_cfg, dict) or not schedulers:
        return
    length = _train_length(train_cfg, iters_per_epoch)
    if length is None:
        return
    limit, max_epochs, max_iters = length
    optimizer = _one_parameter_optimizer(cfg)
    for name, scheduler_cfg in _scheduler_cfgs(schedulers):
        built_cfg = copy.deepcopy(dict(scheduler_cfg))
        by_epoch = built_cfg.get('by_epoch', True)
        built_cfg.setdefault('end', max_epochs if by_epoch else max_iters)
        try:
            PARAM_SCHEDULERS.build(
                built_cfg,
                default_args=dict(
                    optimizer=optimizer, epoch_length=iters_per_epoch))
        except ValueError as err:
            raise InputError(
                f'{where}{name} ({_describe(scheduler_cfg, limit)}) cannot '
                f'run with {limit}: {" ".join(str(err).split())}'
                f'{_unit(scheduler_cfg, iters_per_epoch)}') from err


def _describe(scheduler_cfg: dict, limit: str) -> str:
    """``'CosineAnnealingLR, begin=1, end=train_cfg.max_epochs'``."""
    default = limit.split('=')[0] if scheduler_cfg.get(
        'by_epoch', True) else 'the last iteration'
    end = scheduler_cfg.get('end', default)
    return (f'{scheduler_cfg.get("type")}, begin='
            f'{scheduler_cfg.get("begin", 0)}, end={end}')


def _unit(scheduler_cfg: dict, iters_per_epoch: int) -> str:
    """How to read the scheduler's numbers in mmengine's message."""
    if scheduler_cfg.get('convert_to_iter_based'):
        return f' (in iterations, {iters_per_epoch} per epoch)'
    return ''


def _train_length(train_cfg: dict,
                  iters_per_epoch: int) -> Optional[Tuple[str, int, int]]:
    """``(limit text, max_epochs, max_iters)`` of an epoch- or
    iteration-based training loop, as the Runner's loop reports them."""
    cls = loop_class('train_cfg', train_cfg)
    if isinstance(cls, type) and issubclass(cls, IterBasedTrainLoop):
        max_iters = train_cfg.get('max_iters')
        if isinstance(max_iters, int):
            return f'train_cfg.max_iters={max_iters}', 1, max_iters
    elif isinstance(cls, type) and issubclass(cls, EpochBasedTrainLoop):
        max_epochs = train_cfg.get('max_epochs')
        if isinstance(max_epochs, int):
            return (f'train_cfg.max_epochs={max_epochs}', max_epochs,
                    max_epochs * iters_per_epoch)
    return None


def _scheduler_cfgs(
        schedulers,
        key: str = 'param_scheduler') -> Iterator[Tuple[str, dict]]:
    """``(config key, scheduler config)`` of a ``param_scheduler`` value:
    a dict, a list, or a dict of them per optimizer (without ``type``)."""
    if isinstance(schedulers, dict) and 'type' not in schedulers:
        for optim_name, value in schedulers.items():
            yield from _scheduler_cfgs(value, f'{key}.{optim_name}')
    elif isinstance(schedulers, dict):
        yield key, schedulers
    else:
        for i, item in enumerate(schedulers):
            if isinstance(item, dict):
                yield f'{key}[{i}]', item


def _one_parameter_optimizer(cfg: Config) -> torch.optim.Optimizer:
    """The config's optimizer over one parameter; SGD with momentum when
    it cannot be built so (the Runner reports its optimizer's errors)."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer_cfg = (cfg.get('optim_wrapper') or {}).get('optimizer')
    if isinstance(optimizer_cfg, dict):
        try:
            return OPTIMIZERS.build(
                dict(copy.deepcopy(optimizer_cfg), params=[param]))
        except Exception:  # any optimizer error is the Runner's to report
            pass
    return torch.optim.SGD([param], lr=0.1, momentum=0.9)
