"""Tests of the Fisher jobs built from configs (errors; the statistics
themselves are tested with FisherHook in tests/test_engine/test_hooks)."""
import pytest
from mmengine.config import Config

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.engine.hooks import FisherHook
from mmpretrain_osdtw.osdtw.fisher import (cross_fisher_from_configs,
                                           task_fisher_from_config)


def test_task_fisher_needs_a_fisher_hook(tmp_path):
    cfg = Config(dict(custom_hooks=[dict(type='ClassCountsHook')]))
    with pytest.raises(KeyError, match='no FisherHook in custom_hooks'):
        task_fisher_from_config(cfg, 'unused.pth', str(tmp_path), None)


@pytest.mark.parametrize('hook_type', ['FisherHook', FisherHook])
def test_task_fisher_builds_the_configs_hook(tmp_path, hook_type):
    """The hook is built from the config entry (its checks run first)."""
    cfg = Config(dict(custom_hooks=[dict(type=hook_type, chunk_size=0)]))
    with pytest.raises(ValueError, match='chunk_size'):
        task_fisher_from_config(cfg, 'unused.pth', str(tmp_path), None)


def test_cross_fisher_needs_both_tasks():
    with pytest.raises(KeyError, match="'head' and 'tail'"):
        cross_fisher_from_configs({'head': (None, 'a.pth')}, 'out.pth')
