"""The pipeline configs' way of choosing (C, w_A): the proxy with its noise
scale calibrated on a second stage-1 seed (issue 17: the one way that
passed the converged benchmark's validation grids); the validation-split
configs keep the derivation's scale for their diagnostic proxy."""
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
PIPELINES = sorted(
    str(p.relative_to(REPO))
    for p in (REPO / 'configs').glob('**/*pipeline*.py')
    if p.parent.name != '_base_' or p.name == 'osdtw_pipeline.py')


def test_every_pipeline_config_is_found():
    assert 'configs/osdtw/digits_lt/pipeline.py' in PIPELINES
    assert 'configs/benchmarks/cifar10_lt_mgp/osdtw_pipeline.py' in PIPELINES
    assert len(PIPELINES) >= 12


@pytest.mark.parametrize('path', PIPELINES)
def test_the_default_noise_scale(path):
    train_cfg = Config.fromfile(str(REPO / path)).train_cfg
    if train_cfg.get('choose', 'proxy') == 'validation':
        assert train_cfg.noise_scale == 'asymptotic'
        assert train_cfg.search.mismatch == 'debiased-positive'
    else:
        assert train_cfg.noise_scale == 'second_seed'
        assert train_cfg.search.mismatch == 'debiased'
