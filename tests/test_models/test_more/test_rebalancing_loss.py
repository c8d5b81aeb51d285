"""MORERebalancingLoss against hand computations."""
import math

import pytest
import torch

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.models.more import (MORERebalancingLoss,
                                          logit_discrepancy,
                                          sample_prior_weights)

COUNTS = [6, 3, 1]  # pi = 0.6, 0.3, 0.1
Z = torch.tensor([[1.0, 2.0, 0.0], [0.5, -1.0, 1.0]])
Z_G = torch.tensor([[0.0, 2.0, 1.0], [0.5, 0.0, 0.0]])


def test_l2_loss_by_hand():
    # sample 0 (class 0): (1)^2 + 0 + (-1)^2 = 2, weight 0.6
    # sample 1 (class 2): 0 + (-1)^2 + 1^2 = 2, weight 0.1
    loss = MORERebalancingLoss(class_counts=COUNTS)
    value = loss(Z, Z_G, torch.tensor([0, 2]))
    assert value.item() == pytest.approx((0.6 * 2 + 0.1 * 2) / 2)


def test_kl_loss_by_hand():
    loss = MORERebalancingLoss(distance='kl', class_counts=COUNTS)
    value = loss(Z, Z_G, torch.tensor([1, 0]))
    expected = 0.0
    for z, z_g, w in zip(Z.tolist(), Z_G.tolist(), (0.3, 0.6)):
        p = [math.exp(v) / sum(math.exp(u) for u in z) for v in z]
        q = [math.exp(v) / sum(math.exp(u) for u in z_g) for v in z_g]
        expected += w * sum(qi * math.log(qi / pi) for qi, pi in zip(q, p))
    assert value.item() == pytest.approx(expected / 2, rel=1e-5)


def test_identical_logits_give_zero():
    for distance in ('l2', 'kl'):
        loss = MORERebalancingLoss(distance=distance, class_counts=COUNTS)
        assert loss(Z, Z.clone(), torch.tensor([0, 1])).item() == \
            pytest.approx(0.0, abs=1e-7)


def test_soft_targets_use_the_expected_prior():
    soft = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.2, 0.8]])
    weights = sample_prior_weights(torch.tensor([0.6, 0.3, 0.1]), soft)
    torch.testing.assert_close(weights, torch.tensor([0.45, 0.14]))
    loss = MORERebalancingLoss(class_counts=COUNTS)
    assert loss(Z, Z_G, soft).item() == pytest.approx(
        (0.45 * 2 + 0.14 * 2) / 2)


def test_reduction_none_and_loss_weight():
    loss = MORERebalancingLoss(
        class_counts=COUNTS, reduction='none', loss_weight=2.0)
    torch.testing.assert_close(
        loss(Z, Z_G, torch.tensor([0, 2])), torch.tensor([2.4, 0.4]))


def test_logit_discrepancy_l2():
    torch.testing.assert_close(
        logit_discrepancy(Z, Z_G), torch.tensor([2.0, 2.0]))


def test_counts_come_from_set_class_counts():
    loss = MORERebalancingLoss()
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        loss(Z, Z_G, torch.tensor([0, 1]))
    loss.set_class_counts(COUNTS)
    assert loss.class_counts.tolist() == COUNTS
    assert 'class_counts' not in loss.state_dict()  # not in checkpoints


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(distance='l1'), ValueError, "distance must be one of.*'l1'"),
    (dict(reduction='avg'), ValueError, "reduction must be one of.*'avg'"),
    (dict(class_counts=[3, 0, 1]), ValueError, r'classes \[1\] have no'),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        MORERebalancingLoss(**kwargs)


def test_bad_targets_and_shapes():
    loss = MORERebalancingLoss(class_counts=COUNTS)
    with pytest.raises(ValueError, match=r'label 3 is outside 0\.\.2'):
        loss(Z, Z_G, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match='class_counts has 3 entries'):
        loss(Z[:, :2], Z_G[:, :2], torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='must both be'):
        loss(Z, Z_G[:1], torch.tensor([0, 1]))
