"""Which samples each rank averages over (padding, max_samples)."""
import pytest
from _toy_fisher import loader, make_items
from mmengine.dataset import DefaultSampler
from torch.utils.data import DistributedSampler

from mmpretrain_osdtw.osdtw.fisher import rank_sample_limit, sample_limit


def test_sample_limit():
    items = make_items(7)
    assert sample_limit(loader(items)) is None
    assert sample_limit(loader(items), 5) == 5
    assert sample_limit(loader(items), 50) == 7
    padded = DefaultSampler(items, shuffle=False, round_up=True)
    padded.rank, padded.world_size = 1, 2  # as on rank 1 of 2
    assert sample_limit(loader(items, 2, padded)) == 3
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match='max_samples'):
            sample_limit(loader(items), bad)


def test_rank_sample_limit():
    items = make_items(7)
    for rank, expected in ((0, 4), (1, 3)):
        sampler = DistributedSampler(items, 2, rank, shuffle=False)
        assert rank_sample_limit(loader(items, 2, sampler)) == expected
        default = DefaultSampler(items, shuffle=False, seed=0)
        default.rank, default.world_size = rank, 2
        assert rank_sample_limit(loader(items, 2, default)) == expected
    unpadded = DefaultSampler(items, shuffle=False, round_up=False, seed=0)
    assert rank_sample_limit(loader(items, 2, unpadded)) is None
    assert rank_sample_limit(loader(items)) is None
    dropping = DistributedSampler(items, 2, 0, shuffle=False, drop_last=True)
    with pytest.raises(ValueError, match='drop_last'):
        rank_sample_limit(loader(items, 2, dropping))
