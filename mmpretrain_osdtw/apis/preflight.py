"""Pre-flight checks: find bad input before anything is trained.

:func:`preflight` runs on a loaded config (``tools/train.py`` and
``tools/test.py`` call it before they build the Runner) and raises
:class:`~mmpretrain_osdtw.utils.InputError`, one line naming the
config key and the file, when

* a dataset cannot be built (a missing data folder or list file, a bad list
  line, an ``imb_ratio`` too large for the data: the dataset's own message;
  for a list line that MMPretrain's ``CustomDataset`` cannot parse, the
  file, the line number and the line);
* an image of a dataset read from an annotation list (``ImageNetLT``,
  ``PlacesLT``, ``CustomDataset(ann_file=...)``) does not exist;
* an init checkpoint (``checkpoint=`` of an ``init_cfg`` in ``model``, or
  ``load_from``) is empty or is a local file that does not exist; URLs are
  not checked (mmengine downloads them). Whether the checkpoint *fits* the
  model is checked when it is loaded, before the first step
  (:mod:`mmpretrain_osdtw.models.utils.checked_pretrained`);
* a key of ``train_cfg``, ``val_cfg`` or ``test_cfg`` is not an argument
  of its loop class (the closest one suggested), or a ``param_scheduler``
  cannot run with ``train_cfg.max_epochs`` (built over a one-parameter
  optimizer with the training set's epoch length:
  :mod:`~mmpretrain_osdtw.apis.schedule_checks`);
* an MGP (MAE) config's image, patch and decoder sizes disagree
  (:func:`~mmpretrain_osdtw.models.utils.check_mgp_geometry`);
* ``class_counts=`` given to a model part, a metric or ``ClassCountsHook``
  is not a valid list or JSON file, has not ``K`` entries, or gives a class
  no sample; or the training set has a class without samples while
  something in the config uses the class counts.

A pipeline config (``train_cfg.type='StageRunner'``) is checked through
every stage config it names, with ``train_cfg.stage_cfg_options`` applied
(its MGP config ``train_cfg.mgp`` with ``train_cfg.mgp_cfg_options``), and
its ``train_cfg.init_backbone`` checkpoint must exist (it, or the MGP
step's checkpoint, replaces every stage's backbone init checkpoint).

Image paths are checked against one directory listing per folder
(``os.scandir``) instead of one ``stat`` per image. Measured on a synthetic
ImageNet-LT tree (the official per-class counts, 115,846 empty files in
1,000 folders) on a loaded 2-core machine with a warm local disk: 0.5-0.7 s
for the listings against 1.0-1.3 s for a ``stat`` per path; the whole
pre-flight of the ImageNet-LT baseline config (list parsing, images, class
counts) about 4 s. Where a folder holds many more files than the list uses
(the full ImageNet folders hold ~11x more than ImageNet-LT's), a local disk
lists slower than it stats (2.5x in a scaled trial); on network file
systems, where each ``stat`` is a round trip, the listing should win (not
measured here).
"""
import copy
import os
import os.path as osp
from collections import defaultdict
from typing import Dict, Iterator, List, Optional, Set, Tuple

from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS

from mmpretrain_osdtw.datasets.annotation_list import malformed_list_line
from mmpretrain_osdtw.datasets.class_counts import (check_class_counts,
                                                    describe_dataset,
                                                    get_class_counts,
                                                    get_num_classes,
                                                    load_class_counts)
from mmpretrain_osdtw.models.utils import (check_init_checkpoints,
                                           check_mgp_geometry)
from mmpretrain_osdtw.utils import check_checkpoint_path
from mmpretrain_osdtw.engine.launch import InputError
from mmpretrain_osdtw.engine.runner.stage_configs import (MGP_STEP_CHECKPOINT,
                                                          StageConfigs)
from mmpretrain_osdtw.engine.runner.stage_runner import \
    check_pipeline_settings
from .schedule_checks import (check_loop_keys, check_param_schedulers,
                              epoch_length)

MODES = ('train', 'test')
#: Dataloaders each mode reads; a pipeline stage both trains and tests.
MODE_LOADERS = {
    'train': ('train_dataloader', 'val_dataloader'),
    'test': ('test_dataloader', ),
    'stage': ('train_dataloader', 'val_dataloader', 'test_dataloader'),
}
#: Loop configs each mode builds.
MODE_LOOPS = {
    'train': ('train_cfg', 'val_cfg'),
    'test': ('test_cfg', ),
    'stage': ('train_cfg', 'val_cfg', 'test_cfg'),
}
#: Missing images listed in a message.
SHOWN = 3


def preflight(cfg: Config, mode: str = 'train') -> None:
    """Check a config's data, init checkpoints and class counts.

    Args:
        cfg (Config): A loaded config with the command line applied.
        mode (str): ``'train'`` (training and validation data, init
            checkpoints) or ``'test'`` (test data; ``load_from`` is the
            checkpoint, init checkpoints are not loaded by a test).

    Raises:
        InputError: On the first problem found (see the module docstring).
        ValueError: If ``mode`` is unknown.
    """
    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    checker = _Preflight()
    train_cfg = cfg.get('train_cfg') or {}
    if mode == 'train' and train_cfg.get('type') == 'StageRunner':
        for key, stage_cfg in stage_configs(cfg):
            name = osp.basename(stage_cfg.filename)
            checker.check(stage_cfg, 'stage', f'train_cfg.{key} ({name}): ')
    else:
        checker.check(cfg, mode)


def stage_configs(cfg: Config) -> Iterator[Tuple[str, Config]]:
    """The stage configs a pipeline config names, as the pipeline loads
    them (:class:`~mmpretrain_osdtw.engine.runner.stage_configs.StageConfigs`:
    ``train_cfg.stage_cfg_options`` applied, ``train_cfg.mgp_cfg_options``
    to the MGP config), the backbones starting from the MGP checkpoint.

    Args:
        cfg (Config): A config with ``train_cfg.type='StageRunner'``.

    Yields:
        tuple[str, Config]: The ``train_cfg`` key and the stage config.

    Raises:
        InputError: An unknown ``train_cfg`` key, a stage config or
            ``train_cfg.init_backbone`` that does not exist, or a stage
            config that does not load.
    """
    check_pipeline_settings(cfg.train_cfg)
    init = cfg.train_cfg.get('init_backbone')
    if init is not None:
        check_checkpoint_path(
            'train_cfg.init_backbone', init, 'give the MGP checkpoint with '
            '--cfg-options train_cfg.init_backbone=<path or URL>')
    start = MGP_STEP_CHECKPOINT if cfg.train_cfg.get('mgp') else init
    yield from StageConfigs(cfg).items(start)


class _Preflight:
    """The checks of :func:`preflight`, with what was already checked
    (datasets, folder listings) kept for the next config."""

    def __init__(self) -> None:
        self._listings: Dict[str, Optional[Set[str]]] = {}
        self._datasets: Dict[str, object] = {}

    def check(self, cfg: Config, mode: str, where: str = '') -> None:
        """All checks of one config; ``where`` prefixes the messages."""
        prefix = 'train_cfg.stage_cfg_options.' if mode == 'stage' else ''
        scope = cfg.get('default_scope', 'mmpretrain')
        with DefaultScope.overwrite_default_scope(scope):
            check_loop_keys(cfg, where, MODE_LOOPS[mode])
        if mode != 'test':
            check_init_checkpoints(cfg, where, prefix)
            check_mgp_geometry(cfg)
        if cfg.get('load_from'):
            check_checkpoint_path(
                f'{where}load_from', cfg.load_from,
                'give the weights with --cfg-options load_from=<path or URL>')
        datasets = {}
        with DefaultScope.overwrite_default_scope(scope):
            for loader in MODE_LOADERS[mode]:
                dataset_cfg = (cfg.get(loader) or {}).get('dataset')
                if dataset_cfg is not None:
                    key = f'{where}{loader}.dataset'
                    datasets[loader] = self.dataset(key, dataset_cfg)
            train_set = datasets.get('train_dataloader')
            if mode != 'test':
                check_param_schedulers(
                    cfg, epoch_length(cfg.get('train_dataloader'), train_set),
                    where)
        self.check_class_counts(cfg, train_set, where)

    def dataset(self, key: str, dataset_cfg) -> object:
        """Build a dataset config (once) and check its image paths."""
        cache_key = repr(dataset_cfg)
        if cache_key not in self._datasets:
            dataset = build_dataset(key, dataset_cfg)
            self.check_images(key, dataset)
            self._datasets[cache_key] = dataset
        return self._datasets[cache_key]

    def check_images(self, key: str, dataset) -> None:
        """Raise if an image of a list dataset is not in its folder."""
        if not any(getattr(d, 'ann_file', '') for d in leaf_datasets(dataset)):
            return  # folder scans and in-memory data: nothing to check
        by_folder: Dict[str, List[Tuple[int, str]]] = defaultdict(list)
        for index in range(len(dataset)):
            path = dataset.get_data_info(index).get('img_path')
            if path:
                folder, name = osp.split(path)
                by_folder[folder].append((index, name))
        missing, no_folder = [], []
        for folder, entries in by_folder.items():
            present = self.listing(folder)
            if present is None:
                no_folder.append(folder)
            missing += [(i, osp.join(folder, name)) for i, name in entries
                        if present is None or name not in present]
        if missing:
            shown = ', '.join(f'{p!r} (sample {i})'
                              for i, p in sorted(missing)[:SHOWN])
            folders = f'; {len(no_folder):,} folder(s) do not exist, e.g. ' \
                f'{sorted(no_folder)[0]!r}' if no_folder else ''
            raise InputError(
                f'{key}: {len(missing):,} of {len(dataset):,} images of '
                f'{describe_dataset(dataset)} do not exist, e.g. {shown}'
                f'{folders}')

    def listing(self, folder: str) -> Optional[Set[str]]:
        """Names in a folder (None if it does not exist), listed once."""
        if folder not in self._listings:
            try:
                with os.scandir(folder or '.') as entries:
                    self._listings[folder] = {e.name for e in entries}
            except (FileNotFoundError, NotADirectoryError):
                self._listings[folder] = None
        return self._listings[folder]

    def check_class_counts(self, cfg: Config, train_set, where: str) -> None:
        """Given counts: valid, ``K`` entries, no empty class; the training
        set: no empty class when the counts are used."""
        num_classes = None
        if train_set is not None:
            try:
                num_classes = get_num_classes(train_set)
            except ValueError:
                pass  # the dataset names no classes: nothing to compare
        given = list(given_class_counts(cfg))
        for key, value, holder_classes in given:
            try:
                counts = load_class_counts(value)
                check_class_counts(counts, holder_classes or num_classes,
                                   'the counts')
            except (ValueError, FileNotFoundError, TypeError) as err:
                raise InputError(f'{where}{key}: {err}') from err
        uses_counts = given or any(
            hook.get('type') == 'ClassCountsHook'
            for hook in cfg.get('custom_hooks') or [])
        if train_set is not None and uses_counts:
            try:
                check_class_counts(
                    get_class_counts(train_set), num_classes,
                    f'the training set {describe_dataset(train_set)}',
                    train_set.metainfo.get('classes'))
            except ValueError as err:
                raise InputError(
                    f'{where}train_dataloader.dataset: {err}') from err


def build_dataset(key: str, dataset_cfg) -> object:
    """Build and fully load a dataset; its data errors (``ValueError``,
    ``OSError``: a bad list line, a missing folder) become an
    :class:`InputError` naming ``key``. A list line that MMPretrain's
    ``CustomDataset`` cannot parse is named by file, line number and text.
    Other errors keep their traceback.
    """
    try:
        dataset = DATASETS.build(copy.deepcopy(dataset_cfg))
        if hasattr(dataset, 'full_init'):
            dataset.full_init()
    except (ValueError, OSError) as err:
        kind = dataset_cfg.get('type', 'dataset')
        line = malformed_list_line(dataset_cfg) if isinstance(
            err, ValueError) else None
        raise InputError(f'{key} ({kind}): {line or err}') from err
    return dataset


def leaf_datasets(dataset) -> Iterator:
    """The datasets inside wrappers (``dataset`` / ``datasets``
    attributes), the dataset itself when it wraps nothing."""
    inner = getattr(dataset, 'datasets', None)
    if inner is None and getattr(dataset, 'dataset', None) is not None:
        inner = [dataset.dataset]
    if not inner:
        yield dataset
        return
    for child in inner:
        yield from leaf_datasets(child)



def given_class_counts(
        cfg: Config) -> Iterator[Tuple[str, object, Optional[int]]]:
    """``(config key, value, num_classes of its holder)`` of every
    ``class_counts=`` in the model, the evaluators and
    ``ClassCountsHook``."""
    places: List[Tuple[str, object]] = [('model', cfg.get('model'))]
    for name in ('val_evaluator', 'test_evaluator'):
        places.append((name, cfg.get(name)))
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        if hook.get('type') == 'ClassCountsHook':
            places.append((f'custom_hooks[{i}]', hook))
    for key, value in places:
        yield from _find_counts(value, key)


def _find_counts(node,
                 key: str) -> Iterator[Tuple[str, object, Optional[int]]]:
    """Search a config value for ``class_counts`` keys."""
    if isinstance(node, dict):
        if node.get('class_counts') is not None:
            yield (f'{key}.class_counts', node['class_counts'],
                   node.get('num_classes'))
        for name, value in node.items():
            if name != 'class_counts':
                yield from _find_counts(value, f'{key}.{name}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _find_counts(value, f'{key}[{i}]')
