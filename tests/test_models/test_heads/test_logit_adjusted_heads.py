import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmpretrain_osdtw.datasets.head_tail_split import split_head_tail
from mmpretrain_osdtw.models.heads import (LogitAdjustedBCEHead,
                                           LogitAdjustedCEHead)
from mmpretrain_osdtw.models.losses import (LogitAdjustedBCELoss,
                                            LogitAdjustedCELoss,
                                            log_prior_from_counts,
                                            log_prior_odds_from_counts)

torch.set_num_threads(1)

K = 5
IN_CHANNELS = 8
# sorted by count: 3 (90), 0 (50), 4 (30), 1 (20), 2 (10)
# -> head task [3, 0], tail task [4, 1, 2]
COUNTS = [50, 20, 10, 90, 30]
HEAD_IDS = [3, 0]
TAIL_IDS = [4, 1, 2]


def make_head(task, counts=COUNTS, num_classes=K, **kwargs):
    head = LogitAdjustedBCEHead(
        num_classes=num_classes,
        in_channels=IN_CHANNELS,
        task=task,
        class_counts=counts,
        **kwargs)
    torch.manual_seed(0)
    for param in head.parameters():
        torch.nn.init.normal_(param)
    return head


def feats(batch=4):
    """Backbone output as a ViT with out_type='cls_token' returns it."""
    torch.manual_seed(1)
    return (torch.randn(batch, IN_CHANNELS), )


def label_samples(labels):
    return [DataSample().set_gt_label(label) for label in labels]


def mixup_samples(scores):
    return [
        DataSample().set_gt_label(0).set_gt_score(torch.tensor(s))
        for s in scores
    ]


@pytest.mark.parametrize('task, num_out, ids', [
    ('head', 2, HEAD_IDS),
    ('tail', 3, TAIL_IDS),
    (None, 5, [0, 1, 2, 3, 4]),
    ('both', 5, [0, 1, 2, 3, 4]),
])
def test_shapes_and_class_ids(task, num_out, ids):
    head = make_head(task)
    assert head.num_classes == K
    assert head.num_task_classes == num_out
    assert head.layers.head.out_features == num_out
    assert head.class_ids.tolist() == ids
    assert head.class_counts.tolist() == COUNTS
    assert head.task_logits(feats()).shape == (4, num_out)


def test_class_ids_follow_split_head_tail():
    counts = np.array([7, 7, 3, 9, 1, 4, 4])
    head_ids, tail_ids = split_head_tail(counts)
    assert head_ids.tolist() == [3, 0, 1] and tail_ids.tolist() == [5, 6, 2, 4]
    for task, ids in (('head', head_ids), ('tail', tail_ids)):
        head = make_head(task, counts, num_classes=7)
        assert head.class_ids.tolist() == ids.tolist()


def test_features_from_a_vit_backbone():
    vit = VisionTransformer(
        arch=dict(
            embed_dims=IN_CHANNELS,
            num_layers=1,
            num_heads=2,
            feedforward_channels=16),
        img_size=8,
        patch_size=4,
        out_type='cls_token')
    out = vit(torch.rand(2, 3, 8, 8))
    assert isinstance(out, tuple) and out[-1].shape == (2, IN_CHANNELS)
    samples = make_head('tail').predict(out)
    assert samples[0].pred_score.shape == (K, )


def test_targets_from_gt_label_are_sliced():
    labels = [3, 1, 2, 0]
    samples = label_samples(labels)
    head, tail = make_head('head'), make_head('tail')
    # head task order [3, 0]; tail task order [4, 1, 2]
    assert head.task_targets(samples).tolist() == [[1, 0], [0, 0], [0, 0],
                                                   [0, 1]]
    assert tail.task_targets(samples).tolist() == [[0, 0, 0], [0, 1, 0],
                                                   [0, 0, 1], [0, 0, 0]]
    assert make_head(None).task_targets(samples).tolist() == F.one_hot(
        torch.tensor(labels), K).tolist()


def test_targets_from_mixup_gt_score_are_sliced():
    scores = [[0.6, 0.0, 0.0, 0.4, 0.0], [0.0, 0.3, 0.0, 0.0, 0.7]]
    samples = mixup_samples(scores)
    head, tail = make_head('head'), make_head('tail')
    assert torch.allclose(
        head.task_targets(samples), torch.tensor([[0.4, 0.6], [0.0, 0.0]]))
    assert torch.allclose(
        tail.task_targets(samples),
        torch.tensor([[0.0, 0.0, 0.0], [0.7, 0.3, 0.0]]))


def test_prediction_scatter_to_original_order():
    head, tail = make_head('head'), make_head('tail')
    x = feats()
    for model, own, other in ((head, HEAD_IDS, TAIL_IDS), (tail, TAIL_IDS,
                                                           HEAD_IDS)):
        expected = torch.sigmoid(model.task_logits(x))
        samples = model.predict(x)
        scores = torch.stack([s.pred_score for s in samples])
        assert scores.shape == (4, K)
        assert (scores[:, other] == 0).all()
        assert torch.equal(scores[:, own], expected)
        labels = torch.cat([s.pred_label for s in samples])
        assert torch.equal(labels, scores.argmax(dim=1))
        assert set(labels.tolist()) <= set(own)


def test_two_task_heads_combine_into_one_k_class_score():
    head, tail = make_head('head'), make_head('tail')
    x = feats()
    combined = head.scatter_to_classes(head.task_logits(x)) + \
        tail.scatter_to_classes(tail.task_logits(x))
    assert torch.equal(combined[:, HEAD_IDS], head.task_logits(x))
    assert torch.equal(combined[:, TAIL_IDS], tail.task_logits(x))


def test_predict_keeps_given_data_samples():
    samples = label_samples([0, 1, 2, 3])
    out = make_head(None).predict(feats(), samples)
    assert out[0] is samples[0] and 'pred_score' in out[0]
    scores = torch.stack([s.pred_score for s in out])
    assert torch.allclose(scores, torch.sigmoid(make_head(None)(feats())))


@pytest.mark.parametrize('task', ['head', 'tail', None])
def test_loss_equals_direct_computation(task):
    head = make_head(
        task,
        loss=dict(
            type='LogitAdjustedBCELoss',
            tau=1.2,
            label_smooth_val=0.1,
            smooth_num_classes=K))
    labels = [3, 1, 2, 0]
    logits = head.task_logits(feats())
    ids = torch.tensor(head.class_ids.tolist())
    target = F.one_hot(torch.tensor(labels), K).float()[:, ids]
    odds = log_prior_odds_from_counts(torch.tensor(COUNTS), ids)
    direct = LogitAdjustedBCELoss(
        tau=1.2, label_smooth_val=0.1, smooth_num_classes=K)(logits, target,
                                                             odds)
    losses = head.loss(feats(), label_samples(labels))
    assert set(losses) == {'loss'}
    assert torch.allclose(losses['loss'], direct)
    # with smooth_num_classes=K the task target is the slice of the smoothed
    # K-class target: same loss as an unsmoothed loss on that slice
    smoothed_k = F.one_hot(torch.tensor(labels), K).float() * 0.9 + 0.1 / K
    unsmoothed = LogitAdjustedBCELoss(tau=1.2)(logits, smoothed_k[:, ids],
                                               odds)
    assert torch.allclose(losses['loss'], unsmoothed)


def test_loss_with_mixup_targets_and_backward():
    head = make_head('tail')
    scores = [[0.6, 0.0, 0.0, 0.4, 0.0], [0.0, 0.3, 0.0, 0.0, 0.7]]
    x = (torch.randn(2, IN_CHANNELS), )
    loss = head.loss(x, mixup_samples(scores))['loss']
    ids = torch.tensor(TAIL_IDS)
    direct = LogitAdjustedBCELoss(tau=1.0)(head.task_logits(x),
                                           torch.tensor(scores)[:, ids],
                                           log_prior_odds_from_counts(
                                               torch.tensor(COUNTS), ids))
    assert torch.allclose(loss, direct)
    loss.backward()
    assert torch.isfinite(head.layers.head.weight.grad).all()


def test_state_dict_round_trip():
    head = make_head('tail')
    state = head.state_dict()
    assert state['class_counts'].tolist() == COUNTS
    assert state['class_ids'].tolist() == TAIL_IDS
    fresh = LogitAdjustedBCEHead(
        num_classes=K, in_channels=IN_CHANNELS, task='tail')
    assert not fresh.counts_are_set
    fresh.load_state_dict(state)
    assert fresh.counts_are_set
    assert fresh.class_ids.tolist() == TAIL_IDS
    x = feats()
    assert torch.equal(
        torch.stack([s.pred_score for s in fresh.predict(x)]),
        torch.stack([s.pred_score for s in head.predict(x)]))
    # the loaded counts satisfy the loss; the hook may set the same counts
    fresh.set_class_counts(COUNTS)
    assert torch.isfinite(fresh.loss(x, label_samples([0, 1, 2, 3]))['loss'])


def test_counts_from_json_file(tmp_path):
    path = tmp_path / 'counts.json'
    path.write_text(json.dumps(COUNTS))
    head = LogitAdjustedBCEHead(
        num_classes=K,
        in_channels=IN_CHANNELS,
        task='head',
        class_counts=str(path))
    assert head.class_ids.tolist() == HEAD_IDS


def test_missing_counts_raise_a_clear_error():
    head = LogitAdjustedBCEHead(
        num_classes=K, in_channels=IN_CHANNELS, task='head')
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        head.loss(feats(), label_samples([0, 1, 2, 3]))
    with pytest.raises(RuntimeError, match='class_counts='):
        head.predict(feats())
    full = LogitAdjustedBCEHead(num_classes=K, in_channels=IN_CHANNELS)
    assert len(full.predict(feats())) == 4  # no split needed to predict
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        full.loss(feats(), label_samples([0, 1, 2, 3]))


def test_bad_counts_and_arguments():
    with pytest.raises(ValueError, match='4 entries but num_classes=5'):
        make_head('head', counts=[1, 2, 3, 4])
    with pytest.raises(ValueError, match='no training sample'):
        make_head('tail', counts=[1, 0, 3, 4, 5])
    with pytest.raises(ValueError, match='task must be one of'):
        make_head('middle')
    with pytest.raises(ValueError, match='cal_acc'):
        make_head('head', cal_acc=True)
    head = make_head('head')
    with pytest.raises(ValueError, match='change the classes'):
        head.set_class_counts([90, 20, 10, 50, 30])  # head would be [0, 3]
    head.set_class_counts([60, 20, 10, 90, 30])  # same split: allowed
    assert head.class_counts.tolist() == [60, 20, 10, 90, 30]


def test_bad_targets():
    head = make_head('head')
    with pytest.raises(ValueError, match='gt_label 7 is outside 0..4'):
        head.loss(feats(2), label_samples([0, 7]))
    with pytest.raises(ValueError, match=r'expected \(B, 5\)'):
        head.loss(feats(1), mixup_samples([[0.5, 0.5, 0.0]]))


def test_build_from_registry():
    head = MODELS.build(
        dict(
            type='LogitAdjustedBCEHead',
            num_classes=K,
            in_channels=IN_CHANNELS,
            task='tail',
            class_counts=COUNTS,
            loss=dict(type='LogitAdjustedBCELoss', tau=1.05)))
    assert head.loss_module.tau == 1.05 and head.num_task_classes == 3
    head.init_weights()  # zero linear layer, as VisionTransformerClsHead
    assert (head.layers.head.weight == 0).all()


def test_ce_head_loss_and_predictions():
    head = LogitAdjustedCEHead(
        num_classes=K,
        in_channels=IN_CHANNELS,
        class_counts=COUNTS,
        loss=dict(type='LogitAdjustedCELoss', tau=0.7))
    assert head.task is None and head.layers.head.out_features == K
    x = feats()
    labels = [3, 1, 2, 0]
    logits = head(x)
    direct = LogitAdjustedCELoss(tau=0.7)(logits, torch.tensor(labels),
                                          log_prior_from_counts(
                                              torch.tensor(COUNTS)))
    assert torch.allclose(head.loss(x, label_samples(labels))['loss'], direct)
    scores = [[0.6, 0.0, 0.0, 0.4, 0.0]] * 4
    mixed = LogitAdjustedCELoss(tau=0.7)(logits, torch.tensor(scores),
                                         log_prior_from_counts(
                                             torch.tensor(COUNTS)))
    assert torch.allclose(head.loss(x, mixup_samples(scores))['loss'], mixed)
    preds = head.predict(x)
    probs = torch.stack([s.pred_score for s in preds])
    assert torch.allclose(probs, F.softmax(logits, dim=1))
    assert torch.equal(
        torch.cat([s.pred_label for s in preds]), logits.argmax(dim=1))
    assert 'class_counts' in head.state_dict()


def test_ce_head_errors():
    head = LogitAdjustedCEHead(num_classes=K, in_channels=IN_CHANNELS)
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        head.loss(feats(), label_samples([0, 1, 2, 3]))
    with pytest.raises(TypeError):
        LogitAdjustedCEHead(
            num_classes=K, in_channels=IN_CHANNELS, task='head')
