import math

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from mmpretrain_osdtw.models.losses import (LogitAdjustedCELoss,
                                            log_prior_from_counts)

torch.set_num_threads(1)

# counts (6, 3, 1) -> pi = (0.6, 0.3, 0.1), log pi = (-0.510826, -1.203973,
# -2.302585)
LOGITS = [[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]]
COUNTS = [6, 3, 1]
LABELS = [0, 2]


def hand_loss(logits, target, tau, smooth=0.0):
    """Soft-target CE on z + tau * log pi, in plain python."""
    total = sum(COUNTS)
    log_prior = [math.log(c / total) for c in COUNTS]
    per_sample = []
    for z_row, y_row in zip(logits, target):
        adjusted = [z + tau * p for z, p in zip(z_row, log_prior)]
        log_sum = math.log(sum(math.exp(a) for a in adjusted))
        smoothed = [(1 - smooth) * y + smooth / len(y_row) for y in y_row]
        per_sample.append(
            sum(-y * (a - log_sum) for y, a in zip(smoothed, adjusted)))
    return sum(per_sample) / len(per_sample)


def prior():
    return log_prior_from_counts(torch.tensor(COUNTS))


def test_hand_computed_example():
    # adjusted logits: row 1 (-0.010826, -2.203973, -0.302585), logsumexp
    # 0.608951, label 0 -> 0.619777; row 2 (0.489174, -1.203973, -2.802585),
    # logsumexp 0.688949, label 2 -> 3.491535; mean 2.055656
    loss = LogitAdjustedCELoss(tau=1.0)
    value = loss(torch.tensor(LOGITS), torch.tensor(LABELS), log_prior=prior())
    assert value.item() == pytest.approx(2.0556557, rel=1e-6)
    one_hot = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    assert value.item() == pytest.approx(
        hand_loss(LOGITS, one_hot, tau=1.0), rel=1e-6)


def test_soft_targets_and_smoothing():
    soft = [[0.7, 0.3, 0.0], [0.0, 0.4, 0.6]]
    loss = LogitAdjustedCELoss(tau=0.8, label_smooth_val=0.1)
    value = loss(torch.tensor(LOGITS), torch.tensor(soft), log_prior=prior())
    assert value.item() == pytest.approx(
        hand_loss(LOGITS, soft, tau=0.8, smooth=0.1), rel=1e-6)


def test_tau_zero_is_plain_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(5, 4)
    labels = torch.tensor([0, 1, 2, 3, 1])
    log_prior = log_prior_from_counts(torch.tensor([40, 30, 20, 10]))
    value = LogitAdjustedCELoss(tau=0.0)(logits, labels, log_prior=log_prior)
    assert torch.allclose(value, F.cross_entropy(logits, labels))
    smoothed = LogitAdjustedCELoss(
        tau=0.0, label_smooth_val=0.1)(
            logits, labels, log_prior=log_prior)
    assert torch.allclose(smoothed,
                          F.cross_entropy(logits, labels, label_smoothing=0.1))


def test_gradient_finite():
    logits = torch.tensor([[100.0, -100.0, 0.0], [-80.0, 90.0, 3.0]],
                          requires_grad=True)
    value = LogitAdjustedCELoss(tau=1.0)(
        logits, torch.tensor(LABELS), log_prior=prior())
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(logits.grad).all()


def test_reduction_and_weight():
    logits, labels = torch.tensor(LOGITS), torch.tensor(LABELS)
    per_sample = LogitAdjustedCELoss(reduction='none')(logits, labels, prior())
    assert per_sample.tolist() == pytest.approx([0.6197768, 3.4915346],
                                                rel=1e-6)
    weighted = LogitAdjustedCELoss()(
        logits, labels, prior(), weight=torch.tensor([0.0, 1.0]), avg_factor=2)
    assert weighted.item() == pytest.approx(3.4915346 / 2, rel=1e-6)


def test_build_from_registry():
    loss = MODELS.build(dict(type='LogitAdjustedCELoss', tau=0.5))
    assert isinstance(loss, LogitAdjustedCELoss) and loss.tau == 0.5


@pytest.mark.parametrize('kwargs', [
    dict(tau=float('inf')),
    dict(tau=None),
    dict(label_smooth_val=1.0),
    dict(label_smooth_val=-0.5),
    dict(reduction='batchmean'),
])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        LogitAdjustedCELoss(**kwargs)


def test_bad_inputs():
    loss = LogitAdjustedCELoss()
    logits = torch.tensor(LOGITS)
    with pytest.raises(ValueError, match='log_prior must have shape'):
        loss(logits, torch.tensor(LABELS), prior()[:2])
    with pytest.raises(ValueError, match='class index 5'):
        loss(logits, torch.tensor([0, 5]), prior())
    with pytest.raises(ValueError, match='target shape'):
        loss(logits, torch.zeros(2, 4), prior())
