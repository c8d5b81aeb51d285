import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.models.classifiers import DualDecoderClassifier

NUM_LAYERS = 4
COUNTS = np.array([40, 3, 25, 9, 14])  # K = 5: head {0, 2}, tail {4, 3, 1}
BACKBONE = dict(
    type='VisionTransformer',
    arch=dict(
        embed_dims=16,
        num_layers=NUM_LAYERS,
        num_heads=2,
        feedforward_channels=32),
    img_size=8,
    patch_size=4)
HEAD = dict(type='LogitAdjustedBCEHead', num_classes=5, in_channels=16)


def build_dual(shared_depth, **kwargs):
    model = DualDecoderClassifier(
        backbone=BACKBONE, head=HEAD, shared_depth=shared_depth, **kwargs)
    for head in model.heads.values():
        head.set_class_counts(COUNTS)
    return model.eval()


def build_task_model(task, seed):
    torch.manual_seed(seed)
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=BACKBONE,
            head=dict(HEAD, task=task)))
    model.init_weights()
    model.head.set_class_counts(COUNTS)
    return model.eval()


def assemble(shared_depth, encoder_src, task_models):
    dual = build_dual(shared_depth)
    dual.load_backbone_state(encoder_src.state_dict(), parts='encoder')
    for task, model in task_models.items():
        dual.load_backbone_state(
            model.backbone.state_dict(), parts='decoder', tasks=(task, ))
        dual.heads[task].load_state_dict(model.head.state_dict())
    return dual


def parts_logits(shared_depth, encoder_src, task_models, images):
    """Run encoder blocks of one ViT, then each task model's own blocks."""
    out = torch.zeros(images.size(0), len(COUNTS))
    for task, model in task_models.items():
        vit = model.backbone
        stem = encoder_src if shared_depth > 0 else vit
        x, _ = stem.patch_embed(images)
        x = torch.cat((stem.cls_token.expand(x.size(0), -1, -1), x), dim=1)
        x = x + stem.pos_embed
        for i in range(NUM_LAYERS):
            x = (encoder_src if i < shared_depth else vit).layers[i](x)
        feat = vit.ln1(x)[:, 0]
        logits = model.head.layers.head(feat)
        out[:, model.head.class_ids] = logits
    return out


@pytest.mark.parametrize('shared_depth', [0, 1, 3, NUM_LAYERS])
def test_assembled_logits_equal_parts(shared_depth):
    encoder_src = build_task_model(None, 0).backbone
    task_models = {
        'head': build_task_model('head', 1),
        'tail': build_task_model('tail', 2)
    }
    dual = assemble(shared_depth, encoder_src, task_models)
    images = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        expected = parts_logits(shared_depth, encoder_src, task_models, images)
        got = dual(images, mode='tensor')
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_predict_scores_come_from_owning_task():
    dual = build_dual(2)
    images = torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        samples = dual(images, mode='predict')
        logits = dual(images, mode='tensor')
    scores = torch.stack([s.pred_score for s in samples])
    torch.testing.assert_close(scores, torch.sigmoid(logits))
    labels = torch.stack([s.pred_label for s in samples]).flatten()
    assert torch.equal(labels, scores.argmax(1))


def test_loss_is_weighted_sum_of_task_losses():
    torch.manual_seed(0)
    dual = build_dual(2, head_weight=0.7).train()
    images = torch.randn(4, 3, 8, 8)
    samples = [DataSample().set_gt_label(c) for c in (0, 1, 3, 2)]
    losses = dual(images, samples, mode='loss')
    feats = dual.extract_feat(images)
    for task, weight in (('head', 0.7), ('tail', 0.3)):
        single = dual.heads[task].loss(feats[task], samples)['loss']
        torch.testing.assert_close(losses[f'loss_{task}'], weight * single)


def test_state_dict_names_follow_the_split():
    dual = build_dual(2)
    keys = dual.state_dict().keys()
    assert 'backbone.layers.1.ln1.weight' in keys
    assert 'backbone.layers.2.ln1.weight' not in keys
    assert 'decoders.head.layers.2.ln1.weight' in keys
    assert 'decoders.tail.layers.3.ln1.weight' in keys
    assert 'decoders.tail.ln1.weight' in keys
    assert not any(k.startswith('decoders.head.patch_embed') for k in keys)
    separate = build_dual(0).state_dict().keys()
    assert 'decoders.tail.patch_embed.projection.weight' in separate
    assert not any(k.startswith('backbone.') for k in separate)


def test_init_weights_fills_both_decoders_from_one_vit():
    dual = DualDecoderClassifier(backbone=BACKBONE, head=HEAD, shared_depth=1)
    dual.init_weights()
    head_w = dual.decoders['head'].layers['3'].ffn.layers[1].weight
    tail_w = dual.decoders['tail'].layers['3'].ffn.layers[1].weight
    assert torch.equal(head_w, tail_w)


def test_layer_depth_for_layer_wise_decay():
    dual = build_dual(2)
    assert dual.get_layer_depth('backbone.pos_embed') == (0, 6)
    assert dual.get_layer_depth('backbone.layers.1.attn.qkv.weight') == (2, 6)
    assert dual.get_layer_depth('decoders.tail.layers.3.ffn.x') == (4, 6)
    assert dual.get_layer_depth('decoders.head.ln1.weight') == (5, 6)
    assert dual.get_layer_depth('heads.head.layers.head.weight') == (5, 6)


def test_frozen_encoder_gets_no_gradient():
    dual = build_dual(2, freeze_encoder=True).train()
    assert not dual.backbone.training
    assert all(not p.requires_grad for p in dual.backbone.parameters())
    samples = [DataSample().set_gt_label(c) for c in (0, 1)]
    losses = dual(torch.randn(2, 3, 8, 8), samples, mode='loss')
    sum(losses.values()).backward()
    assert dual.decoders['head'].layers['3'].ln1.weight.grad is not None


@pytest.mark.parametrize('depth', [-1, NUM_LAYERS + 1])
def test_shared_depth_out_of_range(depth):
    with pytest.raises(ValueError, match=f'shared_depth={depth} is outside'):
        DualDecoderClassifier(backbone=BACKBONE, head=HEAD, shared_depth=depth)


@pytest.mark.parametrize('weight', [-0.1, 1.5])
def test_head_weight_out_of_range(weight):
    with pytest.raises(ValueError, match='head_weight'):
        DualDecoderClassifier(
            backbone=BACKBONE, head=HEAD, shared_depth=1, head_weight=weight)
