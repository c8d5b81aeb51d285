"""Helpers of tools/benchmark/osdtw_speed.py (tiny workloads, no timing)."""
import importlib.util
import math
from pathlib import Path

import pytest
import torch

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.osdtw.fisher import fisher_statistics

_PATH = (Path(__file__).resolve().parents[2] / 'tools' / 'benchmark' /
         'osdtw_speed.py')
_spec = importlib.util.spec_from_file_location('osdtw_speed', _PATH)
speed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(speed)

torch.set_num_threads(1)


def _tiny():
    model = speed.classifier(
        speed.vit_cfg(16, 2, 8, 4), speed.bce_head(16, task='tail'))
    return model, speed.make_batches(6, 4, 8)


def test_loop_baseline_computes_the_same_statistics():
    model, batches = _tiny()
    stats = fisher_statistics(model, batches, chunk_size=4)
    v_sum, h_sum = speed.loop_fisher(model, batches)
    for name in stats['v']:
        torch.testing.assert_close(
            stats['v'][name], v_sum[name] / 6, rtol=1e-4, atol=1e-9)
        torch.testing.assert_close(
            stats['h'][name], h_sum[name] / 6, rtol=1e-4, atol=1e-9)


@pytest.mark.filterwarnings('ignore:There is a performance drop')
def test_fused_attention_variant_agrees():
    model, batches = _tiny()
    ref = fisher_statistics(model, batches, chunk_size=4)
    fused = speed.fused_attention_fisher(model, batches, 4)
    for name in ref['v']:
        torch.testing.assert_close(
            fused['v'][name], ref['v'][name], rtol=1e-4, atol=1e-9)


def test_vit_b_shapes_count():
    total = sum(math.prod(shape) for _, shape, _ in speed.vit_b_shapes())
    assert round(total / 1e6, 1) == 86.6
    layers = {layer for _, _, layer in speed.vit_b_shapes()}
    assert layers == set(range(13))


def test_synthetic_stats_slice_is_valid():
    stats = speed.synthetic_vit_b_stats(1e-4)
    for s in stats:
        assert (s.h_a > 0).all() and (s.h_b > 0).all()
        assert (s.k.abs() <= (s.v_a * s.v_b).sqrt() + 1e-6).all()
