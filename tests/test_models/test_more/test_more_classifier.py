"""MOREClassifier: total loss by hand, gradient options, heads."""
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.models.more import (MOREClassifier, general_path,
                                          tail_parameters)

COUNTS = [40, 20, 10, 5, 3]
PRIOR = torch.tensor(COUNTS, dtype=torch.float) / sum(COUNTS)


def backbone(drop_path_rate=0.0):
    return dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=16, num_layers=2, num_heads=2, feedforward_channels=32),
        img_size=8,
        patch_size=4,
        drop_path_rate=drop_path_rate)


def build(head_type='VisionTransformerClsHead', drop_path_rate=0.0, **kwargs):
    torch.manual_seed(0)
    head = dict(type=head_type, num_classes=5, in_channels=16, init_cfg=None)
    if head_type == 'VisionTransformerClsHead':
        head['loss'] = dict(type='CrossEntropyLoss')
    model = MOREClassifier(
        backbone=backbone(drop_path_rate), head=head, rank=2, **kwargs)
    for module in model.modules():
        if hasattr(module, 'set_class_counts'):
            module.set_class_counts(COUNTS)
    with torch.no_grad():
        for param in tail_parameters(model):
            param.normal_(0, 0.2)
    return model.train()


def batch(labels=(0, 1, 4, 2)):
    images = torch.randn(
        len(labels), 3, 8, 8, generator=torch.Generator().manual_seed(3))
    return images, [DataSample().set_gt_label(y) for y in labels]


def test_total_loss_by_hand():
    model = build()
    model.set_rebalance_weight(3.0)
    images, samples = batch()
    labels = torch.tensor([0, 1, 4, 2])
    losses = model.loss(images, samples)
    with torch.no_grad():
        z = model(images)
        with general_path(model):
            z_g = model(images)
    l_more = (PRIOR[labels] * ((z - z_g)**2).sum(1)).mean()
    torch.testing.assert_close(losses['loss'], F.cross_entropy(z, labels))
    torch.testing.assert_close(losses['loss_more'], 3.0 * l_more)
    torch.testing.assert_close(losses['more_discrepancy'], l_more)
    assert losses['more_alpha'].item() == 3.0
    assert l_more > 0


def test_without_alpha_the_loss_names_the_hook():
    model = build()
    images, samples = batch()
    with pytest.raises(RuntimeError, match='MOREScheduleHook'):
        model.loss(images, samples)
    with pytest.raises(ValueError, match='alpha must be a finite number'):
        model.set_rebalance_weight(-1.0)


def test_alpha_zero_leaves_the_base_loss():
    model = build(rebalance_weight=0.0)
    losses = model.loss(*batch())
    assert losses['loss_more'].item() == 0.0


@pytest.mark.parametrize('detach', [False, True])
def test_gradient_through_the_general_path(detach):
    model = build(detach_general=detach, rebalance_weight=1.0)
    images, samples = batch()
    assert model.general_logits(images).requires_grad is not detach
    model.loss(images, samples)['loss_more'].backward()
    # Both variants train the tail; only without stop-gradient does the
    # general path also push W_g through z_g.
    assert model.backbone.layers[0].attn.qkv.tail_B.grad.abs().sum() > 0

    full_only = build(detach_general=True, rebalance_weight=1.0)
    full_only.loss(images, samples)['loss_more'].backward()
    grad = model.backbone.layers[0].attn.qkv.weight.grad
    grad_full_only = full_only.backbone.layers[0].attn.qkv.weight.grad
    assert torch.allclose(grad, grad_full_only) is detach


@pytest.mark.parametrize('share, zero', [(True, True), (False, False)])
def test_both_paths_share_drop_path_masks(share, zero):
    model = build(
        drop_path_rate=0.5, share_randomness=share, rebalance_weight=1.0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith('tail_B'):  # back to the initial B = 0
                param.zero_()
    torch.manual_seed(7)
    losses = model.loss(*batch())
    assert (losses['more_discrepancy'].item() == 0.0) is zero


def test_random_state_after_loss_is_that_of_one_pass():
    model = build(drop_path_rate=0.5, rebalance_weight=1.0)
    images, samples = batch()
    torch.manual_seed(7)
    model.loss(images, samples)
    after_more = torch.rand(3)
    torch.manual_seed(7)  # the full pass alone, as ImageClassifier.loss
    feats = model.extract_feat(images)
    model.head.loss(feats, samples)
    model.head(feats)
    assert torch.equal(torch.rand(3), after_more)


def test_soft_targets_from_mixup():
    model = build(rebalance_weight=2.0)
    images, _ = batch()
    scores = torch.softmax(torch.randn(4, 5), dim=1)
    samples = [DataSample().set_gt_score(s) for s in scores]
    losses = model.loss(images, samples)
    with torch.no_grad():
        z = model(images)
        with general_path(model):
            z_g = model(images)
    expected = ((scores @ PRIOR) * ((z - z_g)**2).sum(1)).mean()
    torch.testing.assert_close(losses['more_discrepancy'], expected)


@pytest.mark.parametrize('head_type',
                         ['LogitAdjustedCEHead', 'LogitAdjustedBCEHead'])
def test_project_heads_train_under_more(head_type):
    model = build(head_type=head_type, rebalance_weight=1.0)
    losses = model.loss(*batch())
    assert set(losses) == {
        'loss', 'loss_more', 'more_discrepancy', 'more_alpha'
    }
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert model.backbone.layers[1].ffn.layers[1].tail_A.grad is not None
    preds = model.predict(batch()[0])
    assert preds[0].pred_score.shape == (5, )


def test_multi_label_samples_are_rejected():
    samples = [DataSample().set_gt_label([0, 1]) for _ in range(4)]
    with pytest.raises(ValueError, match='exactly one gt_label'):
        MOREClassifier.prior_targets(samples)
