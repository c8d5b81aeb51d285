"""The per-layer mismatch-against-noise summary (search.json's
``diagnostics.per_layer_mismatch``), on hand-computed numbers."""
import pytest
import torch

from mmpretrain_osdtw.osdtw.proxy import TaskPairStats, layer_mismatch


def stats():
    one = torch.ones(2)
    return [
        # layer 1: noise (1/1 + 1/1) / 10 = 0.2 per slot; delta^2 = 1, 0
        TaskPairStats('blocks.0.w', 1, h_a=one, h_b=one,
                      delta=torch.tensor([1.0, 0.0])),
        # layer 2: the second slot has a zero tail Fisher and is left out
        TaskPairStats('blocks.1.w', 2, h_a=one, h_b=torch.tensor([4.0, 0.0]),
                      delta=torch.tensor([0.1, 5.0])),
    ]


def test_sums_ratio_and_fraction_per_layer():
    rows = layer_mismatch(stats(), 2, 10, zero_thresholds=(0.0, 0.0),
                          variant='paper')
    assert [r['layer'] for r in rows] == [0, 1, 2]
    assert rows[0] == dict(layer=0, slots=0, delta2=0.0, noise=0.0,
                           ratio=None, above_noise=None)
    assert rows[1]['slots'] == 2
    assert rows[1]['delta2'] == pytest.approx(1.0)
    assert rows[1]['noise'] == pytest.approx(0.4)
    assert rows[1]['ratio'] == pytest.approx(2.5)
    assert rows[1]['above_noise'] == 0.5
    # (1/1 + 1/4) / 10 = 0.125 against 0.01: below the noise
    assert rows[2]['slots'] == 1
    assert rows[2]['ratio'] == pytest.approx(0.01 / 0.125)
    assert rows[2]['above_noise'] == 0.0


def test_full_variant_uses_the_score_variances_and_cross_term():
    one = torch.ones(1)
    entry = TaskPairStats('blocks.0.w', 1, h_a=one, h_b=one, v_a=2 * one,
                          v_b=2 * one, k=-one, delta=one)
    row = layer_mismatch([entry], 1, 10, (0.0, 0.0), variant='full')[1]
    # (2/1 + 2/1 - 2 * (-1) / 1) / 10 = 0.6
    assert row['noise'] == pytest.approx(0.6)
    assert row['ratio'] == pytest.approx(1 / 0.6)


def test_the_sgd_noise_part_is_reported_when_given():
    one = torch.ones(2)
    entry = TaskPairStats('blocks.0.w', 1, h_a=one, h_b=one,
                          delta=torch.tensor([1.0, 0.0]),
                          sgd_noise=torch.tensor([0.3, 0.1]))
    row = layer_mismatch([entry], 1, 10, (0.0, 0.0), variant='paper')[1]
    # asymptotic 0.2 per slot plus the SGD part
    assert row['sgd_noise'] == pytest.approx(0.4)
    assert row['noise'] == pytest.approx(0.4 + 0.4)
    assert 'sgd_noise' not in layer_mismatch(stats(), 2, 10, (0.0, 0.0),
                                             variant='paper')[1]
