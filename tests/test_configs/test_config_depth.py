"""Config inheritance stays shallow: every config under configs/ (pieces
included) is at most MAX_DEPTH files deep, counting itself and MMPretrain's
own base files (``mmpretrain::...``), as mmengine resolves ``_base_``."""
from functools import lru_cache
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
MAX_DEPTH = 5
ALL_CONFIGS = sorted((REPO / 'configs').rglob('*.py'))


@lru_cache(maxsize=None)
def depth(path: str) -> int:
    """1 + the depth of the deepest ``_base_`` of ``path``."""
    bases = []
    for base in Config._get_base_files(path):
        base_path, _ = Config._get_cfg_path(base, path)
        bases.append(base_path)
    return 1 + max((depth(b) for b in bases), default=0)


@pytest.mark.parametrize(
    'path', ALL_CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_config_chain_is_shallow(path):
    assert depth(str(path)) <= MAX_DEPTH, (
        f'{path.relative_to(REPO)} inherits through {depth(str(path))} '
        f'levels (at most {MAX_DEPTH}): inherit side by side (a `_base_` '
        'list) instead of stacking')


def test_depth_counts_mmpretrain_bases_too():
    # stage3_refine -> stage2_joint -> vit-tiny-p4_bal-bce ->
    # _base_/models/vit-tiny-p4_32px -> mmpretrain::_base_/models/...
    refine = REPO / 'configs/osdtw/cifar10_lt/stage3_refine.py'
    assert depth(str(refine)) == 5
