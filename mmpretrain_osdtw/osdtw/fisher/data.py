"""The data of every Fisher pass: the training images read with the test
pipeline (no random augmentation), in the sampler order that
:mod:`.sampling` splits over the ranks, with a progress bar."""
import copy
from typing import Iterable, Iterator, Optional, Union

from mmengine.dist import is_main_process
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

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


def build_fisher_loader(cfg,
                        dataloader: Optional[Union[dict, Iterable]] = None,
                        seed: Optional[int] = None,
                        shuffle: bool = False) -> Iterable:
    """The Fisher pass data for the training config ``cfg``.

    Args:
        cfg (Config | dict): The (stage-1) training config.
        dataloader (dict | DataLoader, optional): Other data: a dataloader
            config (built here) or a loader (returned as it is). Defaults
            to :func:`fisher_dataloader_cfg` of ``cfg``.
        seed (int, optional): Seed of the sampler (the run's seed).
        shuffle (bool): Shuffle the default data (for a ``max_samples``
            subset). Defaults to False.

    Returns:
        Iterable: The data loader.
    """
    if dataloader is None:
        dataloader = fisher_dataloader_cfg(cfg, shuffle=shuffle)
    if not isinstance(dataloader, dict):
        return dataloader
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        return Runner.build_dataloader(copy.deepcopy(dataloader), seed=seed)


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
