"""Config inheritance stays shallow: every config under configs/ (pieces
included) is at most MAX_DEPTH levels of this project's files deep, as
mmengine resolves ``_base_``:

- the config itself is one level, each ``_base_`` below it one more;
- a piece (a file under ``configs/_base_/``) counts as one level together
  with the pieces it builds on (``places_lt.py`` on ``imagenet_lt.py``,
  ``mgp_runtime.py`` on ``lt_runtime.py``): one dataset, model, schedule or
  runtime, however it is written;
- MMPretrain's own files (``mmpretrain::...``) above them do not count.

So a runnable config is itself, one base next to it (a ``_*.py`` file such
as ``_stage_base.py``) or one other config, and the pieces: MMPretrain's
``_base_ = [model, dataset, schedule, runtime]`` plus one level."""
from functools import lru_cache
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
PIECES = REPO / 'configs' / '_base_'
MAX_DEPTH = 3
ALL_CONFIGS = sorted((REPO / 'configs').rglob('*.py'))


def bases(path: str) -> list:
    """The files ``path`` inherits directly, this project's only."""
    out = []
    for base in Config._get_base_files(path):
        base_path, _ = Config._get_cfg_path(base, path)
        if (REPO / 'configs') in Path(base_path).resolve().parents:
            out.append(base_path)
    return out


def is_piece(path: str) -> bool:
    return PIECES in Path(path).resolve().parents


@lru_cache(maxsize=None)
def depth(path: str) -> int:
    """Levels of this project's files in ``path``'s deepest chain."""
    if is_piece(path):
        return 1
    return 1 + max((depth(b) for b in bases(path)), default=0)


@pytest.mark.parametrize(
    'path', ALL_CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_config_chain_is_shallow(path):
    assert depth(str(path)) <= MAX_DEPTH, (
        f'{path.relative_to(REPO)} inherits through {depth(str(path))} '
        f'levels of configs (at most {MAX_DEPTH}): inherit side by side '
        '(a `_base_` list of pieces) instead of stacking')


@pytest.mark.parametrize(
    'path', sorted(PIECES.rglob('*.py')),
    ids=lambda p: str(p.relative_to(REPO)))
def test_pieces_build_on_pieces_only(path):
    """A piece is one dataset, model, schedule or runtime: it never
    inherits a runnable config."""
    assert all(is_piece(b) for b in bases(str(path)))


def test_depth_rule():
    # MMPretrain's ResNet-18 CIFAR-10 config and its four bases: not counted
    assert depth(str(REPO / 'configs/examples/mmpretrain_mix_in.py')) == 1
    # places_lt.py on imagenet_lt.py on MMPretrain's: one piece
    assert depth(str(PIECES / 'datasets/places_lt.py')) == 1
    # stage config -> the folder's stage base -> the pieces
    for path in ('configs/osdtw/places_lt/stage3_refine.py',
                 'configs/benchmarks/cifar10_lt_mgp/osdtw_stage3_refine.py'):
        assert depth(str(REPO / path)) == 3
