"""The helpers the benchmarks share, tools/benchmark/common: statistics,
timing, the training step."""
import math

import pytest
import torch

from tools.benchmark.common import stats, timing, training


# ------------------------------------------------------------ stats
def test_mean_std_and_format():
    assert stats.mean_std([1.0, 3.0])[:2] == (2.0, math.sqrt(2.0))
    assert stats.mean_std([5.0]) == (5.0, 0.0, 1)
    assert stats.mean_std([float('nan'), None, 2.0]) == (2.0, 0.0, 1)
    assert math.isnan(stats.mean_std([])[0])
    assert stats.format_mean_std([1.0, 3.0]) == '2.0 ± 1.4'
    assert stats.format_mean_std([4.25]) == '4.2'
    assert stats.format_mean_std([0.1234, 0.2], 3) == '0.162 ± 0.054'
    assert stats.format_mean_std([]) == '-'


def test_spearman():
    assert stats.spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert stats.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(stats.spearman([1, 2], [1, 2]))
    assert math.isnan(stats.spearman([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match='3 vs 2'):
        stats.spearman([1, 2, 3], [1, 2])


def test_spearman_within_depth_and_regret():
    proxy = {(1, 0.3): 1.0, (1, 0.5): 2.0, (1, 0.7): 3.0,
             (2, 0.3): 3.0, (2, 0.5): 2.0, (2, 0.7): 1.0}
    errors = dict(proxy)
    assert stats.spearman_within_depth(proxy, errors) == {1: 1.0, 2: 1.0}
    errors[(2, 0.3)], errors[(2, 0.7)] = 1.0, 3.0
    assert stats.spearman_within_depth(proxy, errors) == {1: 1.0, 2: -1.0}
    assert stats.regret(errors, (1, 0.7)) == 2.0
    assert stats.regret(errors, (1, 0.3)) == 0.0


# ------------------------------------------------------------ timing
def test_interleaved_warms_up_alternates_and_syncs():
    calls, syncs = [], []
    fns = dict(a=lambda: calls.append('a'), b=lambda: calls.append('b'))
    seconds = timing.interleaved(
        fns, rounds=3, warmup=2, sync=lambda: syncs.append(1))
    assert calls == ['a', 'a', 'b', 'b'] + ['a', 'b'] * 3
    assert len(syncs) == 2 * 3 * 2  # before and after every timed call
    assert set(seconds) == {'a', 'b'}
    assert all(s >= 0 for s in seconds.values())


def test_machine_info_names_threads_and_load():
    line = timing.machine_info(3, torch.device('cpu'))
    assert line.startswith('machine: ')
    assert 'torch threads 3' in line and 'load average' in line
    assert 'device' not in line  # a GPU only when the device is CUDA


# ------------------------------------------------------------ training
class _Linear(torch.nn.Module):
    """A model with MMPretrain's ``loss`` interface."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 1)

    def loss(self, inputs, data_samples):
        out = self.fc(inputs).squeeze(1)
        return dict(
            loss_fit=(out - data_samples).square().mean(),
            accuracy=out.sum() * 100)  # not a loss term: not trained on


def test_loss_step_trains_on_the_loss_terms_only():
    torch.manual_seed(0)
    model = _Linear()
    optim = torch.optim.SGD(model.parameters(), lr=0.1)
    inputs, targets = torch.randn(8, 2), torch.randn(8)
    before = model.loss(inputs, targets)['loss_fit'].item()
    for _ in range(5):
        training.loss_step(model, optim, inputs, targets)
    assert model.loss(inputs, targets)['loss_fit'].item() < before


def test_paired_difference_has_a_t_interval():
    from tools.benchmark.common.stats import (format_interval,
                                              paired_difference)
    d = paired_difference({0: 41.0, 1: 42.0, 2: 40.0, 5: 1.0},
                          {0: 36.0, 1: 36.5, 2: 35.5})
    # diffs 5.0, 5.5, 4.5: sd 0.5, t(0.975, 2) = 4.303
    assert d['seeds'] == [0, 1, 2] and d['n'] == 3
    assert d['mean'] == pytest.approx(5.0)
    assert d['high'] - d['mean'] == pytest.approx(4.303 * 0.5 / 3**0.5)
    assert format_interval(d) == '+5.0 [3.8, 6.2] (n=3)'
    assert paired_difference({0: 1.0}, {0: 2.0}) is None
    assert format_interval(None) == '-'
