import math

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from mmpretrain_osdtw.models.losses import (LogitAdjustedBCELoss,
                                            log_prior_odds_from_counts)

torch.set_num_threads(1)

# A 2x3 example worked out by hand.
# counts (6, 3, 1) -> pi = (0.6, 0.3, 0.1)
# log prior odds = (log 1.5, log 3/7, log 1/9)
#                = (0.405465, -0.847298, -2.197225)
LOGITS = [[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]]
COUNTS = [6, 3, 1]
TARGET = [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]  # row 2: other task's sample


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def bce(logit: float, target: float) -> float:
    """BCE-with-logits of one element, by the textbook formula."""
    return target * softplus(-logit) + (1 - target) * softplus(logit)


def hand_loss(logits, target, tau, smooth=0.0, smooth_num=3):
    """Batch mean of the per-sample class sums, in plain python."""
    total = sum(COUNTS)
    odds = [math.log(c / total) - math.log(1 - c / total) for c in COUNTS]
    per_sample = []
    for z_row, y_row in zip(logits, target):
        per_sample.append(
            sum(
                bce(z + tau * o, (1 - smooth) * y + smooth / smooth_num)
                for z, o, y in zip(z_row, odds, y_row)))
    return sum(per_sample) / len(per_sample)


def odds_tensor():
    return log_prior_odds_from_counts(torch.tensor(COUNTS))


def test_log_prior_odds_values():
    odds = odds_tensor()
    expected = [math.log(1.5), math.log(3 / 7), math.log(1 / 9)]
    assert odds.tolist() == pytest.approx(expected, rel=1e-6)
    # restricted to a task's classes: no renormalisation
    sub = log_prior_odds_from_counts(
        torch.tensor(COUNTS), torch.tensor([2, 0]))
    assert sub.tolist() == pytest.approx([expected[2], expected[0]], rel=1e-6)


def test_hand_computed_example():
    # adjusted logits: row 1 (0.905465, -1.847298, -0.197225)
    #                  row 2 (1.405465, -0.847298, -2.697225)
    # row 1 elements (0.339577, 0.146403, 0.599389) -> 1.085369
    # row 2 elements (1.624804, 0.356675, 0.065219) -> 2.046697
    # mean over the batch -> 1.566033
    loss = LogitAdjustedBCELoss(tau=1.0)
    value = loss(
        torch.tensor(LOGITS),
        torch.tensor(TARGET),
        log_prior_odds=odds_tensor())
    assert value.item() == pytest.approx(1.5660334, rel=1e-6)
    assert value.item() == pytest.approx(
        hand_loss(LOGITS, TARGET, tau=1.0), rel=1e-6)
    per_sample = loss(
        torch.tensor(LOGITS),
        torch.tensor(TARGET),
        log_prior_odds=odds_tensor(),
        reduction_override='none')
    assert per_sample.tolist() == pytest.approx([1.0853695, 2.0466973],
                                                rel=1e-6)


def test_tau_and_smoothing_hand_computed():
    # tau=1.5, s=0.1 spread over S=5 classes (a task head of a K=5 problem):
    # targets row 1 (0.92, 0.02, 0.02), row 2 (0.02, 0.02, 0.02)
    # per sample 0.785415 and 2.129415 -> mean 1.457415
    loss = LogitAdjustedBCELoss(
        tau=1.5, label_smooth_val=0.1, smooth_num_classes=5)
    value = loss(
        torch.tensor(LOGITS),
        torch.tensor(TARGET),
        log_prior_odds=odds_tensor())
    assert value.item() == pytest.approx(1.4574154, rel=1e-6)
    assert value.item() == pytest.approx(
        hand_loss(LOGITS, TARGET, tau=1.5, smooth=0.1, smooth_num=5), rel=1e-6)


def test_smoothing_defaults_to_number_of_logits():
    loss = LogitAdjustedBCELoss(tau=1.0, label_smooth_val=0.2)
    value = loss(
        torch.tensor(LOGITS),
        torch.tensor(TARGET),
        log_prior_odds=odds_tensor())
    assert value.item() == pytest.approx(
        hand_loss(LOGITS, TARGET, tau=1.0, smooth=0.2, smooth_num=3), rel=1e-6)


def test_all_zero_rows():
    target = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    loss = LogitAdjustedBCELoss(tau=1.0)
    value = loss(
        torch.tensor(LOGITS),
        torch.tensor(target),
        log_prior_odds=odds_tensor())
    assert torch.isfinite(value)
    assert value.item() == pytest.approx(
        hand_loss(LOGITS, target, tau=1.0), rel=1e-6)


def test_soft_targets():
    target = [[0.7, 0.3, 0.0], [0.0, 0.4, 0.6]]  # Mixup-style rows
    loss = LogitAdjustedBCELoss(tau=0.5)
    value = loss(
        torch.tensor(LOGITS),
        torch.tensor(target),
        log_prior_odds=odds_tensor())
    assert value.item() == pytest.approx(
        hand_loss(LOGITS, target, tau=0.5), rel=1e-6)


def test_index_targets_equal_one_hot():
    loss = LogitAdjustedBCELoss(tau=1.0)
    labels = torch.tensor([0, 2])
    one_hot = F.one_hot(labels, 3).float()
    logits = torch.tensor(LOGITS)
    assert torch.allclose(
        loss(logits, labels, log_prior_odds=odds_tensor()),
        loss(logits, one_hot, log_prior_odds=odds_tensor()))


def test_tau_zero_is_plain_bce_summed_over_classes():
    torch.manual_seed(0)
    logits = torch.randn(4, 6)
    target = torch.rand(4, 6)
    odds = log_prior_odds_from_counts(torch.tensor([9, 7, 5, 3, 2, 1]))
    value = LogitAdjustedBCELoss(tau=0.0)(logits, target, log_prior_odds=odds)
    expected = F.binary_cross_entropy_with_logits(
        logits, target, reduction='none').sum(dim=1).mean()
    assert torch.allclose(value, expected)
    # 'mean' is n times the element-wise mean, as LiVT
    elementwise = F.binary_cross_entropy_with_logits(logits, target)
    assert torch.allclose(value, 6 * elementwise)


def test_reductions_weight_avg_factor_and_loss_weight():
    logits, target = torch.tensor(LOGITS), torch.tensor(TARGET)
    per_sample = torch.tensor([1.0853695, 2.0466973])
    loss = LogitAdjustedBCELoss(tau=1.0, loss_weight=2.0, reduction='sum')
    assert loss(logits, target, odds_tensor()).item() == pytest.approx(
        2 * per_sample.sum().item(), rel=1e-6)
    weighted = LogitAdjustedBCELoss(tau=1.0)(
        logits,
        target,
        odds_tensor(),
        weight=torch.tensor([1.0, 0.0]),
        avg_factor=4)
    assert weighted.item() == pytest.approx(1.0853695 / 4, rel=1e-6)


def test_gradient_finite_and_correct():
    logits = torch.tensor([[100.0, -100.0, 0.0], [-80.0, 90.0, 3.0]],
                          requires_grad=True)
    target = torch.tensor([[0.0, 1.0, 0.5], [0.0, 0.0, 0.0]])
    loss = LogitAdjustedBCELoss(tau=1.0, label_smooth_val=0.1)
    value = loss(logits, target, log_prior_odds=odds_tensor())
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(logits.grad).all()
    # d loss / d z = (sigmoid(z + odds) - y') / B
    smoothed = target * 0.9 + 0.1 / 3
    expected = (torch.sigmoid(logits.detach() + odds_tensor()) - smoothed) / 2
    assert torch.allclose(logits.grad, expected, atol=1e-6)


def test_half_precision_logits_are_adjusted_in_float32():
    logits = torch.tensor(LOGITS).half()
    value = LogitAdjustedBCELoss(tau=1.0)(
        logits, torch.tensor(TARGET), log_prior_odds=odds_tensor())
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(1.5660334, rel=1e-3)


def test_build_from_registry():
    loss = MODELS.build(dict(type='LogitAdjustedBCELoss', tau=1.05))
    assert isinstance(loss, LogitAdjustedBCELoss)
    assert loss.tau == 1.05


@pytest.mark.parametrize('kwargs', [
    dict(tau=float('inf')),
    dict(tau=float('nan')),
    dict(tau='1'),
    dict(tau=True),
    dict(label_smooth_val=1.0),
    dict(label_smooth_val=-0.1),
    dict(smooth_num_classes=0),
    dict(reduction='avg'),
])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        LogitAdjustedBCELoss(**kwargs)


def test_bad_inputs():
    loss = LogitAdjustedBCELoss(tau=1.0)
    logits, target = torch.tensor(LOGITS), torch.tensor(TARGET)
    with pytest.raises(ValueError, match='target shape'):
        loss(logits, target[:, :2], odds_tensor())
    with pytest.raises(ValueError, match='log_prior_odds must have shape'):
        loss(logits, target, odds_tensor()[:2])
    with pytest.raises(ValueError, match='non-finite'):
        loss(logits, target, torch.tensor([0.0, float('inf'), 1.0]))
    with pytest.raises(ValueError, match='class index 3'):
        loss(logits, torch.tensor([0, 3]), odds_tensor())
    with pytest.raises(ValueError, match='reduction'):
        loss(logits, target, odds_tensor(), reduction_override='avg')
    with pytest.raises(ValueError, match='smooth_num_classes=2'):
        LogitAdjustedBCELoss(
            label_smooth_val=0.1, smooth_num_classes=2)(logits, target,
                                                        odds_tensor())
