"""Which samples the Fisher pass averages over, on each rank.

Every genuine sample exactly once over all ranks. Padding samplers
(mmengine ``DefaultSampler(round_up=True)``, torch ``DistributedSampler``)
repeat samples to even out the shards: the padded positions are the last
ones of a rank's shard and are skipped (:func:`rank_sample_limit`); an
unpadded sampler (``DefaultSampler(round_up=False)``) needs no skipping.
With ``max_samples``, the first ``max_samples`` positions of the sampler's
global order, split over the ranks as the sampler splits them
(:func:`sample_limit`): with a shuffling sampler, a random subset fixed by
its seed.
"""
import warnings
from typing import Iterable, Iterator, Optional

import torch.distributed as torch_dist

from mmpretrain_osdtw.utils import check_int

Batch = dict


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
    size = dataset_size(data_loader)
    total = max_samples if size is None else min(max_samples, size)
    own = len(range(rank, total, world))
    return own if limit is None else min(limit, own)


def dataset_size(data_loader) -> Optional[int]:
    """``len(data_loader.dataset)``, or None when unknown."""
    dataset = getattr(data_loader, 'dataset', None)
    try:
        return None if dataset is None else len(dataset)
    except TypeError:
        return None


def batches_limited(data_loader: Iterable[Batch],
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


def check_total(num_samples: int, data_loader,
                max_samples: Optional[int]) -> None:
    """Raise when no sample was seen; warn when the count (all ranks) is
    not the dataset's size (or ``max_samples``)."""
    if num_samples == 0:
        raise ValueError('the Fisher pass saw no sample (empty data loader)')
    expected = dataset_size(data_loader)
    if expected is not None and max_samples is not None:
        expected = min(expected, max_samples)
    if expected is not None and expected != num_samples:
        warnings.warn(f'the Fisher pass averaged over {num_samples} samples '
                      f'but the dataset has {expected} (drop_last, or a '
                      'sampler that repeats or skips samples?)')
