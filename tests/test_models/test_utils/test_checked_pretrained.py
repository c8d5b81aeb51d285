"""Fine-tuning starts from an MGP checkpoint: every model class of the
project loads the encoder weights of a (tiny, self-made) MMPretrain MAE
checkpoint, and a checkpoint that does not fit is an error naming the file
and the key."""
import copy

import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.models.utils import (InitCheckpointError, MGP_PREFIX,
                                           load_checked, set_backbone_init)

ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
# 8 px, patch 2: a 4x4 grid of 16 tokens.
GEOMETRY = dict(img_size=8, patch_size=2)


def mae_cfg(arch=ARCH) -> dict:
    return dict(
        type='MAE',
        backbone=dict(type='MAEViT', arch=arch, mask_ratio=0.75, **GEOMETRY),
        neck=dict(
            type='MAEPretrainDecoder',
            num_patches=16,
            patch_size=2,
            embed_dim=arch['embed_dims'],
            decoder_embed_dim=16,
            decoder_depth=1,
            decoder_num_heads=2),
        head=dict(
            type='MAEPretrainHead',
            norm_pix=True,
            patch_size=2,
            loss=dict(type='PixelReconstructionLoss', criterion='L2')),
        data_preprocessor=dict(
            type='SelfSupDataPreprocessor', mean=[0.] * 3, std=[1.] * 3))


def save_mgp_checkpoint(path, arch=ARCH, steps: int = 3) -> dict:
    """Train a tiny MAE a few AdamW steps on random images and save it as
    mmengine does; return its state dict. (Synthetic data: the weights
    only need to differ from any fresh initialisation.)"""
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        mae = MODELS.build(mae_cfg(arch))
        mae.init_weights()
    optim = torch.optim.AdamW(mae.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = mae.loss(torch.rand(4, 3, 8, 8), None)['loss']
        optim.zero_grad()
        loss.backward()
        optim.step()
    state = {k: v.detach().clone() for k, v in mae.state_dict().items()}
    torch.save(dict(state_dict=state, meta=dict(epoch=1)), path)
    return state


@pytest.fixture(scope='module')
def mgp(tmp_path_factory):
    path = tmp_path_factory.mktemp('mgp') / 'epoch_1.pth'
    state = save_mgp_checkpoint(path)
    encoder = {
        k[len(MGP_PREFIX):]: v
        for k, v in state.items() if k.startswith(MGP_PREFIX)
    }
    return str(path), encoder


def vit(**extra) -> dict:
    return dict(type='VisionTransformer', arch=ARCH, **GEOMETRY, **extra)


def bce_head(**extra) -> dict:
    return dict(
        type='LogitAdjustedBCEHead', num_classes=4, in_channels=32, **extra)


def classifier(head: dict) -> dict:
    return dict(type='ImageClassifier', backbone=vit(), head=head)


def build_initialised(model_cfg: dict, checkpoint: str):
    """Build and initialise as the Runner does, after --init-backbone."""
    model_cfg = copy.deepcopy(model_cfg)
    set_backbone_init(model_cfg, checkpoint)
    torch.manual_seed(1)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(model_cfg)
        model.init_weights()
    return model


def assert_encoder_equal(model, encoder: dict, name_of) -> None:
    """Every MGP encoder tensor equals the model's tensor(s) ``name_of``
    maps it to."""
    own = model.state_dict()
    for key, value in encoder.items():
        targets = name_of(key)
        assert targets, key
        for target in targets:
            assert target in own, (key, target)
            assert torch.equal(own[target], value), target


@pytest.mark.parametrize(
    'head', [
        dict(type='VisionTransformerClsHead', num_classes=4, in_channels=32),
        bce_head(task='head'),
        bce_head(task='tail'),
    ],
    ids=['baseline', 'stage1-head', 'stage1-tail'])
def test_image_classifier_starts_from_mgp(mgp, head):
    path, encoder = mgp
    model = build_initialised(classifier(head), path)
    assert_encoder_equal(model, encoder, lambda k: [f'backbone.{k}'])


def test_task_pair_both_tasks_start_from_mgp(mgp):
    path, encoder = mgp
    model = build_initialised(
        dict(type='TaskPairClassifier', model=classifier(bce_head())), path)
    assert_encoder_equal(
        model, encoder,
        lambda k: [f'tasks.{t}.backbone.{k}' for t in ('head', 'tail')])


@pytest.mark.parametrize('shared_depth', [0, 1, 2])
def test_dual_decoder_encoder_and_both_decoders_start_from_mgp(
        mgp, shared_depth):
    path, encoder = mgp
    model = build_initialised(
        dict(
            type='DualDecoderClassifier',
            backbone=vit(),
            head=bce_head(),
            shared_depth=shared_depth), path)
    assert_encoder_equal(model, encoder, model.backbone_key_targets)


def test_more_base_weights_start_from_mgp(mgp):
    path, encoder = mgp
    model = build_initialised(
        dict(
            type='MOREClassifier',
            backbone=vit(),
            head=dict(
                type='VisionTransformerClsHead', num_classes=4,
                in_channels=32),
            rank=2,
            rebalancing_loss=dict(
                type='MORERebalancingLoss', class_counts=[8, 4, 2, 1]),
            rebalance_weight=1.0), path)
    assert_encoder_equal(model, encoder, lambda k: [f'backbone.{k}'])
    # The tails start at B = 0: the model computes the MGP encoder's output.
    tails = [p for n, p in model.named_parameters() if n.endswith('tail_B')]
    assert tails and all(not t.any() for t in tails)


def test_summary_names_missing_and_unexpected_keys(mgp):
    """An average-pooling ViT without final norm: MAE's ``ln1`` is
    unexpected, the pooled norm ``ln2`` is missing; the rest loads."""
    path, encoder = mgp
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        backbone = MODELS.build(vit(out_type='avg_featmap', final_norm=False))
    loaded, missing, unexpected = load_checked(backbone, encoder, path)
    assert loaded == f'loaded {len(encoder) - 2} tensors from {path} into ' \
        'VisionTransformer'
    assert missing == 'missing: [ln2.weight, ln2.bias]'
    assert unexpected == 'unexpected: [ln1.weight, ln1.bias]'


def test_another_architecture_names_file_and_key(mgp, tmp_path):
    path = tmp_path / 'wide.pth'
    save_mgp_checkpoint(path, arch=dict(ARCH, embed_dims=48), steps=0)
    with pytest.raises(InitCheckpointError) as err:
        build_initialised(classifier(bce_head()), str(path))
    message = str(err.value)
    assert str(path) in message and 'first mismatched key' in message
    assert "'cls_token'" in message  # the first key of the state dict


def test_checkpoint_without_backbone_names_file(tmp_path):
    path = tmp_path / 'no_backbone.pth'
    torch.save(dict(state_dict={'encoder.w': torch.zeros(2)}), path)
    with pytest.raises(InitCheckpointError, match="no 'backbone.\\*' key"):
        build_initialised(classifier(bce_head()), str(path))
    with pytest.raises(InitCheckpointError, match=str(path)):
        build_initialised(classifier(bce_head()), str(path))


def test_missing_checkpoint_at_init(tmp_path):
    path = str(tmp_path / 'absent.pth')
    with pytest.raises(InitCheckpointError, match='does not exist'):
        build_initialised(classifier(bce_head()), path)
