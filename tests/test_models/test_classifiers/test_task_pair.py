"""TaskPairClassifier: both stage-1 task models trained in one data pass."""
import copy

import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.models.classifiers import (TaskPairClassifier,
                                                 split_task_pair_state)

torch.set_num_threads(1)
COUNTS = np.array([40, 3, 25, 9, 14])  # K = 5: head {0, 2}, tail {4, 3, 1}
MODEL = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=16, num_layers=2, num_heads=2,
            feedforward_channels=32),
        img_size=8,
        patch_size=4),
    head=dict(type='LogitAdjustedBCEHead', num_classes=5, in_channels=16))


def build_pair(num_classes=5, seed=0):
    torch.manual_seed(seed)
    model = dict(MODEL, head=dict(MODEL['head'], num_classes=num_classes))
    pair = MODELS.build(dict(type='TaskPairClassifier', model=model))
    pair.init_weights()
    counts = COUNTS if num_classes == 5 else np.arange(10, 10 + num_classes)
    for sub in pair.tasks.values():
        sub.head.set_class_counts(counts)
    return pair


def batch(num=6, seed=1):
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(num, 3, 8, 8, generator=gen)
    labels = torch.randint(0, 5, (num, ), generator=gen)
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    return images, samples


def test_both_tasks_start_from_the_same_weights():
    pair = build_pair()
    head, tail = pair.tasks['head'], pair.tasks['tail']
    assert head.head.task == 'head' and tail.head.task == 'tail'
    for (name, a), (_, b) in zip(head.backbone.named_parameters(),
                                 tail.backbone.named_parameters()):
        assert torch.equal(a, b), name
    # K = 5: the heads differ in shape (2 vs 3 classes) and keep their own
    assert head.head.layers.head.weight.shape[0] == 2
    assert tail.head.layers.head.weight.shape[0] == 3
    even = build_pair(num_classes=4)  # K even: the heads are copied too
    assert torch.equal(even.tasks['head'].head.layers.head.weight,
                       even.tasks['tail'].head.layers.head.weight)


def test_task_models_get_their_own_initialisation():
    """init_weights reaches the task models (their init_cfg, e.g. the ViT's
    zero biases), as in a separately built ImageClassifier."""
    torch.manual_seed(0)
    alone = MODELS.build(dict(MODEL, head=dict(MODEL['head'], task='head')))
    alone.init_weights()

    def zero_names(model):
        return {n for n, p in model.named_parameters() if not p.any()}

    expected = zero_names(alone)
    assert expected  # the recipe zero-initialises some tensors
    pair = build_pair()
    assert zero_names(pair.tasks['head']) == expected
    assert all(m.is_init for m in pair.tasks.values())


def test_loss_keys_and_independent_gradients():
    pair = build_pair()
    images, samples = batch()
    losses = pair.loss(images, samples)
    assert set(losses) == {'head.loss', 'tail.loss'}
    losses['head.loss'].backward()
    assert all(p.grad is None for p in pair.tasks['tail'].parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in pair.tasks['head'].parameters())


def test_one_step_equals_two_separate_trainings():
    """AdamW on the summed loss == AdamW on each task model alone."""
    pair = build_pair()
    separate = {t: copy.deepcopy(m) for t, m in pair.tasks.items()}
    images, samples = batch()
    optim = torch.optim.AdamW(pair.parameters(), lr=1e-2)
    for _ in range(2):
        optim.zero_grad()
        sum(pair.loss(images, samples).values()).backward()
        optim.step()
    for task, model in separate.items():
        own = torch.optim.AdamW(model.parameters(), lr=1e-2)
        for _ in range(2):
            own.zero_grad()
            model.loss(images, samples)['loss'].backward()
            own.step()
        for (name, a), (_, b) in zip(
                model.named_parameters(),
                pair.tasks[task].named_parameters()):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)


def test_split_state_loads_into_the_task_models():
    pair = build_pair().eval()
    images, _ = batch()
    states = split_task_pair_state(pair.state_dict())
    logits = torch.zeros(images.size(0), 5)
    for task, state in states.items():
        model = MODELS.build(dict(MODEL, head=dict(MODEL['head'], task=task)))
        model.load_state_dict(state, strict=True)
        model.eval()
        with torch.no_grad():
            task_logits = model.head.task_logits(model.extract_feat(images))
        logits += model.head.scatter_to_classes(task_logits)
    with torch.no_grad():
        torch.testing.assert_close(pair(images), logits)
        scores = torch.stack([s.pred_score for s in pair.predict(images)])
    torch.testing.assert_close(scores, torch.sigmoid(logits))
    with pytest.raises(KeyError, match='TaskPairClassifier'):
        split_task_pair_state({'backbone.x': torch.zeros(1)})


def test_layer_decay_constructor_accepts_the_pair():
    from mmpretrain.engine.optimizers import \
        LearningRateDecayOptimWrapperConstructor
    pair = build_pair()
    constructor = LearningRateDecayOptimWrapperConstructor(
        dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05)),
        dict(layer_decay_rate=0.5))
    wrapper = constructor(pair)
    layer_ids = {g['param_name']: g['layer_id']
                 for g in wrapper.optimizer.param_groups}
    assert layer_ids['tasks.tail.backbone.cls_token'] == 0
    assert layer_ids['tasks.head.backbone.layers.1.ln1.weight'] == 2
    assert layer_ids['tasks.tail.head.layers.head.weight'] == 3
    with pytest.raises(ValueError, match='outside `tasks`'):
        pair.get_layer_depth('backbone.cls_token')


def test_a_head_without_task_logits_is_an_error():
    model = dict(
        MODEL,
        head=dict(
            type='VisionTransformerClsHead', num_classes=5, in_channels=16))
    with pytest.raises(TypeError, match='LogitAdjustedBCEHead'):
        TaskPairClassifier(model=model)
