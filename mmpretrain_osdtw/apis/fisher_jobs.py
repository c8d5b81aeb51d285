"""Fisher-statistics jobs built from configs (models and loaders, like
``mmpretrain.apis``), outside a training run.

- :func:`fisher_dataloader_cfg`: the data of every Fisher pass, the training
  images read with the test pipeline (``FisherHook`` uses it too);
- :func:`task_fisher_from_config`: what ``FisherHook`` writes after
  training, for a model trained elsewhere (the task models of a
  ``TaskPairClassifier``);
- :func:`cross_fisher_from_configs`: ``fisher_cross.pth`` from the two
  trained stage-1 models (config + checkpoint each).
"""
import copy
from typing import Dict, Iterable, Iterator, Optional, Tuple, Union

from mmengine.device import get_device
from mmengine.dist import barrier, is_main_process
from mmengine.registry import DefaultScope
from mmengine.runner import Runner, load_checkpoint
from mmengine.utils import ProgressBar
from mmpretrain.registry import DATASETS, HOOKS
from torch import nn

from mmpretrain_osdtw.osdtw import cross_task_statistics, save_cross_stats
from mmpretrain_osdtw.utils import naming_file
from mmpretrain_osdtw.engine.launch import build_model

FISHER_SAMPLER = dict(type='DefaultSampler', shuffle=False, round_up=False)


def _find_pipeline(dataset_cfg) -> Optional[list]:
    """The first ``pipeline`` of a dataset config or its wrapped datasets."""
    if not isinstance(dataset_cfg, dict):
        return None
    if 'pipeline' in dataset_cfg:
        return dataset_cfg['pipeline']
    inner = [dataset_cfg.get('dataset')] + list(
        dataset_cfg.get('datasets') or [])
    for cfg in inner:
        found = _find_pipeline(cfg)
        if found is not None:
            return found
    return None


def _replace_pipelines(dataset_cfg, pipeline: list) -> int:
    """Set every ``pipeline`` of a (wrapped) dataset config; return count."""
    if not isinstance(dataset_cfg, dict):
        return 0
    count = 0
    if 'pipeline' in dataset_cfg:
        dataset_cfg['pipeline'] = copy.deepcopy(pipeline)
        count += 1
    for cfg in [dataset_cfg.get('dataset')] + list(
            dataset_cfg.get('datasets') or []):
        count += _replace_pipelines(cfg, pipeline)
    return count


def fisher_dataloader_cfg(cfg, shuffle: bool = False) -> dict:
    """Dataloader config of the Fisher pass: training data, test pipeline.

    A copy of ``cfg.train_dataloader`` whose dataset pipelines (also inside
    dataset wrappers such as ``LongTailedDataset``) are replaced by the
    pipeline of ``cfg.test_dataloader`` (else ``cfg.val_dataloader``), with
    ``DefaultSampler(shuffle=False, round_up=False)`` (no padding under
    DDP), no ``batch_sampler`` and no persistent workers.

    Args:
        cfg (Config | dict): The runner's config.
        shuffle (bool): Shuffle the samples (seeded by the seed given to
            ``build_dataloader``): for a ``max_samples`` subset, which
            takes the first samples of the sampler's order. Defaults to
            False.

    Returns:
        dict: The dataloader config, for ``Runner.build_dataloader``.

    Raises:
        KeyError: If the config has no train dataloader or no test/val
            pipeline.
        ValueError: If the training dataset config has no pipeline.

    Example:
        >>> loader = runner.build_dataloader(
        ...     fisher_dataloader_cfg(runner.cfg))  # doctest: +SKIP
    """
    train = cfg.get('train_dataloader')
    if not train or 'dataset' not in train:
        raise KeyError('FisherHook: the config has no train_dataloader.'
                       'dataset; pass `dataloader=` to the hook')
    pipeline = None
    for key in ('test_dataloader', 'val_dataloader'):
        loader = cfg.get(key)
        if loader and pipeline is None:
            pipeline = _find_pipeline(loader.get('dataset'))
    if pipeline is None:
        raise KeyError('FisherHook: found no test_dataloader/val_dataloader '
                       'pipeline to read the training images with; pass '
                       '`dataloader=` to the hook')
    loader = copy.deepcopy(dict(train))
    if _replace_pipelines(loader['dataset'], pipeline) == 0:
        raise ValueError('FisherHook: train_dataloader.dataset has no '
                         '`pipeline` to replace by the test pipeline; pass '
                         '`dataloader=` to the hook')
    loader.pop('batch_sampler', None)
    loader['sampler'] = dict(FISHER_SAMPLER, shuffle=shuffle)
    loader['persistent_workers'] = False
    return loader


def with_progress(loader: Iterable) -> Iterator:
    """Yield the batches, with a progress bar on the main process."""
    bar = None
    if is_main_process():
        try:
            bar = ProgressBar(len(loader))
        except TypeError:  # no len()
            bar = None
    for batch in loader:
        yield batch
        if bar is not None:
            bar.update()
    if bar is not None:  # end the bar's line, as mmengine's track_progress
        bar.file.write('\n')
        bar.file.flush()


def task_fisher_from_config(cfg, checkpoint: str, work_dir: str,
                            logger) -> str:
    """Run the ``FisherHook`` of a stage-1 config on a trained checkpoint.

    What the hook does after training, for a model trained elsewhere (the
    task models of a ``TaskPairClassifier``): the hook's settings come from
    ``cfg.custom_hooks``, the sampler seed from ``cfg.randomness.seed``.

    Args:
        cfg (Config): The task's stage-1 config (with a ``FisherHook``).
        checkpoint (str): The task model's checkpoint.
        work_dir (str): Where the statistics file goes.
        logger: Where the summary line goes.

    Returns:
        str: The statistics file.

    Raises:
        KeyError: If the config has no ``FisherHook``.
    """
    fisher_hook = HOOKS.get('FisherHook')
    entries = [
        h for h in cfg.get('custom_hooks', []) or []
        if h.get('type') in ('FisherHook', fisher_hook)
    ]
    if not entries:
        raise KeyError(f'{cfg.filename}: no FisherHook in custom_hooks')
    hook_cfg = dict(entries[0])
    hook_cfg.pop('type')
    hook_cfg.pop('priority', None)
    hook = fisher_hook(**hook_cfg)
    seed = cfg.get('randomness', {}).get('seed')
    loader = hook.build_loader(cfg, seed)
    train_size = None
    if hook.dataloader is None:
        train_size = len(loader.dataset)
    else:
        with DefaultScope.overwrite_default_scope(
                cfg.get('default_scope', 'mmpretrain')):
            train_size = len(DATASETS.build(cfg.train_dataloader.dataset))
    model = build_task_model(cfg, checkpoint)
    return hook.write(model, loader, work_dir, train_size, logger)


def build_task_model(cfg,
                     checkpoint: str,
                     device: Optional[str] = None) -> nn.Module:
    """Build ``cfg.model`` (with ``cfg.data_preprocessor``) and load weights.

    Args:
        cfg (Config | dict): A stage-1 config.
        checkpoint (str): Its trained checkpoint (trusted source).
        device (str, optional): Target device; default
            ``mmengine.device.get_device()``.

    Returns:
        nn.Module: The model in eval mode.
    """
    model = build_model(cfg)
    with naming_file(checkpoint, 'checkpoint'):
        load_checkpoint(
            model,
            checkpoint,
            map_location='cpu',
            strict=True,
            logger='current')
    return model.to(device or get_device()).eval()


def cross_fisher_from_configs(
        models: Dict[str, Tuple[object, str]],
        out_file: str,
        chunk_size: int = 32,
        dataloader: Optional[Union[dict, Iterable]] = None,
        max_samples: Optional[int] = None) -> str:
    """Compute and save ``fisher_cross.pth`` from the two stage-1 models.

    Builds both task models from their configs and checkpoints, reads the
    training set of the head config with its test pipeline (or
    ``dataloader``) and runs
    :func:`~mmpretrain_osdtw.osdtw.fisher.cross_task_statistics`. Under
    ``torch.distributed`` every rank takes its shard; rank 0 writes.

    Args:
        models (dict): ``{'head': (cfg, checkpoint), 'tail': (cfg,
            checkpoint)}``.
        out_file (str): Target ``.pth`` file.
        chunk_size (int): Samples per ``vmap`` call. Defaults to 32.
        dataloader (dict | DataLoader, optional): The data; default
            :func:`fisher_dataloader_cfg` of the head config, built with the
            head config's ``randomness.seed`` (so that a ``max_samples``
            subset is the one the head task's FisherHook used).
        max_samples (int, optional): As in :class:`FisherHook`; use the
            same value as the stage-1 hooks (the search checks that the
            sample counts agree).

    Returns:
        str: ``out_file``.

    Example:
        >>> cross_fisher_from_configs(
        ...     {'head': (cfg_a, 'a.pth'), 'tail': (cfg_b, 'b.pth')},
        ...     'fisher_cross.pth')  # doctest: +SKIP
    """
    if set(models) != {'head', 'tail'}:
        raise KeyError("cross_fisher_from_configs needs the models of "
                       f"'head' and 'tail', got {sorted(models)}")
    built = {
        task: build_task_model(cfg, ckpt)
        for task, (cfg, ckpt) in models.items()
    }
    head_cfg = models['head'][0]
    if dataloader is None:
        dataloader = fisher_dataloader_cfg(
            head_cfg, shuffle=max_samples is not None)
    if isinstance(dataloader, dict):
        with DefaultScope.overwrite_default_scope(
                head_cfg.get('default_scope', 'mmpretrain')):
            dataloader = Runner.build_dataloader(
                copy.deepcopy(dataloader),
                seed=head_cfg.get('randomness', {}).get('seed'))
    stats = cross_task_statistics(
        built['head'],
        built['tail'],
        with_progress(dataloader),
        chunk_size=chunk_size,
        max_samples=max_samples)
    if is_main_process():
        save_cross_stats(
            out_file,
            stats,
            meta=dict(
                source='cross_fisher_from_configs',
                checkpoints={
                    t: str(c)
                    for t, (_, c) in models.items()
                }))
    barrier()
    return out_file
