"""``fisher_cross.pth`` from the two trained stage-1 task models."""
from typing import Dict, Iterable, Optional, Tuple, Union

from mmengine.dist import barrier, is_main_process

from .cross_stats import CrossStats
from .data import build_fisher_loader, with_progress
from .statistics import cross_task_statistics
from .task_job import build_task_model


def cross_fisher_from_configs(models: Dict[str, Tuple[object, str]],
                              out_file: str,
                              chunk_size: int = 32,
                              dataloader: Optional[Union[dict,
                                                         Iterable]] = None,
                              max_samples: Optional[int] = None) -> str:
    """Compute and save ``fisher_cross.pth`` from the two stage-1 models.

    Builds both task models from their configs and checkpoints, reads the
    training set of the head config with its test pipeline (or
    ``dataloader``) and runs
    :func:`~.statistics.cross_task_statistics`. Under
    ``torch.distributed`` every rank takes its shard; rank 0 writes.

    Args:
        models (dict): ``{'head': (cfg, checkpoint), 'tail': (cfg,
            checkpoint)}``.
        out_file (str): Target ``.pth`` file.
        chunk_size (int): Samples per ``vmap`` call. Defaults to 32.
        dataloader (dict | DataLoader, optional): The data; default
            :func:`~.data.fisher_dataloader_cfg` of the head config, built
            with the head config's ``randomness.seed`` (so that a
            ``max_samples`` subset is the one the head task's FisherHook
            used).
        max_samples (int, optional): As in
            :class:`~.task_job.TaskFisherJob`; use the same value as the
            stage-1 hooks (the search checks that the sample counts agree).

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
    loader = build_fisher_loader(
        head_cfg,
        dataloader,
        head_cfg.get('randomness', {}).get('seed'),
        shuffle=max_samples is not None)
    stats = cross_task_statistics(
        built['head'],
        built['tail'],
        with_progress(loader),
        chunk_size=chunk_size,
        max_samples=max_samples)
    cross = CrossStats.from_statistics(
        stats,
        meta=dict(
            source='cross_fisher_from_configs',
            checkpoints={
                t: str(c)
                for t, (_, c) in models.items()
            }))
    if is_main_process():
        cross.save(out_file)
    barrier()
    return out_file
