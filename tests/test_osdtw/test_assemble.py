"""Stage-3 assembly from checkpoint files, and its bad inputs."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.osdtw.assemble import (assemble_from_config,
                                             load_state_dict,
                                             save_model_checkpoint)

REPO = Path(__file__).resolve().parents[2]
L = 3
COUNTS = np.array([30, 4, 18, 9, 12])  # head {0, 2}, tail {4, 3, 1}
BACKBONE = dict(
    type='VisionTransformer',
    arch=dict(
        embed_dims=16, num_layers=L, num_heads=2, feedforward_channels=32),
    img_size=8,
    patch_size=4)
HEAD = dict(type='LogitAdjustedBCEHead', num_classes=5, in_channels=16)


def stage1_model(task, seed, counts=COUNTS):
    torch.manual_seed(seed)
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=BACKBONE,
            head=dict(HEAD, task=task)))
    model.init_weights()
    for p in model.head.parameters():  # the head starts at zero: randomise
        torch.nn.init.normal_(p)
    model.head.set_class_counts(counts)
    return model.eval()


def stage2_model(shared_depth, seed=7):
    torch.manual_seed(seed)
    model = MODELS.build(
        dict(
            type='DualDecoderClassifier',
            backbone=BACKBONE,
            head=HEAD,
            shared_depth=shared_depth))
    model.init_weights()
    for head in model.heads.values():
        head.set_class_counts(COUNTS)
    return model.eval()


def save(model, path):
    save_model_checkpoint(model, str(path), {})
    return str(path)


@pytest.fixture
def ckpts(tmp_path):
    return dict(
        head=save(stage1_model('head', 1), tmp_path / 'head.pth'),
        tail=save(stage1_model('tail', 2), tmp_path / 'tail.pth'),
        stage2=save(stage2_model(L), tmp_path / 'stage2.pth'))


def assembly_cfg():
    return Config(
        dict(
            model=dict(
                type='DualDecoderClassifier',
                backbone=BACKBONE,
                head=HEAD,
                shared_depth=L,
                head_weight=0.5),
            default_scope='mmpretrain'))


def parts_logits(depth, stage2, stage1, images):
    out = torch.zeros(images.size(0), len(COUNTS))
    for task, model in stage1.items():
        vit = model.backbone
        stem = stage2.backbone if depth > 0 else vit
        x, _ = stem.patch_embed(images)
        x = torch.cat((stem.cls_token.expand(x.size(0), -1, -1), x), dim=1)
        x = x + stem.pos_embed
        for i in range(L):
            x = (stage2.backbone if i < depth else vit).layers[i](x)
        feat = vit.ln1(x)[:, 0]
        out[:, model.head.class_ids] = model.head.layers.head(feat)
    return out


@pytest.mark.parametrize('depth', [0, 2, L])
def test_assembled_checkpoint_equals_its_parts(tmp_path, ckpts, depth):
    out = tmp_path / 'assembled.pth'
    cfg = assembly_cfg()
    assemble_from_config(cfg, dict(head=ckpts['head'], tail=ckpts['tail']),
                         ckpts['stage2'], depth, 0.6, str(out),
                         str(tmp_path / 'assembled_config.py'))
    state, meta = load_state_dict(str(out))
    assert meta['shared_depth'] == depth and meta['head_weight'] == 0.6
    resolved = Config.fromfile(str(tmp_path / 'assembled_config.py'))
    assert resolved.model.shared_depth == depth
    model = MODELS.build(resolved.model)
    model.load_state_dict(state)
    model.eval()

    stage1 = {'head': stage1_model('head', 1), 'tail': stage1_model('tail', 2)}
    images = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        expected = parts_logits(depth, stage2_model(L), stage1, images)
        got = model(images, mode='tensor')
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_stage1_from_another_class_split(tmp_path, ckpts):
    other = save(
        stage1_model('tail', 2, counts=np.array([30, 4, 18, 12, 9])),
        tmp_path / 'other_tail.pth')
    with pytest.raises(ValueError, match='different class counts'):
        assemble_from_config(assembly_cfg(),
                             dict(head=ckpts['head'],
                                  tail=other), ckpts['stage2'], 1, 0.5,
                             str(tmp_path / 'out.pth'))
    assert not (tmp_path / 'out.pth').exists()


def test_swapped_task_checkpoints(tmp_path, ckpts):
    with pytest.raises(ValueError, match='is not a head-task model'):
        assemble_from_config(assembly_cfg(),
                             dict(head=ckpts['tail'],
                                  tail=ckpts['head']), ckpts['stage2'], 1, 0.5,
                             str(tmp_path / 'out.pth'))


def test_stage2_with_fewer_shared_blocks(tmp_path, ckpts):
    shallow = save(stage2_model(1), tmp_path / 'shallow.pth')
    with pytest.raises(
            ValueError, match='cannot give an encoder of depth C=2'):
        assemble_from_config(assembly_cfg(),
                             dict(head=ckpts['head'], tail=ckpts['tail']),
                             shallow, 2, 0.5, str(tmp_path / 'out.pth'))


def test_stage1_from_another_model(tmp_path, ckpts):
    cfg = assembly_cfg()
    cfg.model.backbone.arch.embed_dims = 32
    cfg.model.backbone.arch.num_heads = 4
    cfg.model.head.in_channels = 32
    with pytest.raises(ValueError, match='does not fit the assembled model'):
        assemble_from_config(cfg, dict(head=ckpts['head'],
                                       tail=ckpts['tail']), ckpts['stage2'], 1,
                             0.5, str(tmp_path / 'out.pth'))


def test_missing_stage2_for_shared_encoder(tmp_path, ckpts):
    with pytest.raises(ValueError, match='stage-2 checkpoint is needed'):
        assemble_from_config(assembly_cfg(),
                             dict(head=ckpts['head'], tail=ckpts['tail']),
                             None, 1, 0.5, str(tmp_path / 'out.pth'))


def test_cli_missing_checkpoint_is_a_clear_error(tmp_path):
    proc = subprocess.run([
        sys.executable, 'tools/osdtw_assemble.py',
        'configs/osdtw/digits_lt/stage3_assemble.py', '--stage1-head',
        str(tmp_path / 'nope.pth'), '--stage1-tail', 'x.pth', '--shared-depth',
        '1', '--head-weight', '0.5', '--out',
        str(tmp_path / 'a.pth')
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 2
    assert 'nope.pth' in proc.stderr and 'does not exist' in proc.stderr
