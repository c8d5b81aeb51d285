"""Pointing a config's backbones at a checkpoint, and the checks that
catch an init checkpoint that cannot load before a Runner is built."""
from pathlib import Path

import pytest
from mmengine.config import Config

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.models.utils import (check_init_checkpoints,
                                           set_backbone_init)
from mmpretrain_osdtw.utils import InputError

REPO = Path(__file__).resolve().parents[3]
INIT = dict(type='Pretrained', checkpoint='mgp.pth', prefix='backbone.')


@pytest.mark.parametrize(
    'config, paths', [
        ('configs/baselines/cifar10_lt/vit-tiny-p4_bal-bce.py',
         ['model.backbone.init_cfg']),
        ('configs/more/cifar10_lt/vit-tiny-p4_more_bal-bce.py',
         ['model.backbone.init_cfg']),
        ('configs/osdtw/cifar10_lt/stage1_pair.py',
         ['model.model.backbone.init_cfg']),
        ('configs/osdtw/cifar10_lt/stage2_joint.py',
         ['model.backbone.init_cfg']),
    ],
    ids=['baseline', 'more', 'stage1-pair', 'stage2'])
def test_every_backbone_gets_one_init_dict(config, paths):
    cfg = Config.fromfile(str(REPO / config))
    assert set_backbone_init(cfg.model, 'mgp.pth') == paths
    for path in paths:
        node = cfg
        for part in path.split('.'):
            node = node[part]
        assert node == INIT  # a dict, not the config's [Kaiming] list


def test_no_backbone_is_an_error():
    with pytest.raises(KeyError, match='no `backbone`'):
        set_backbone_init(dict(type='Foo'), 'mgp.pth')


def test_missing_checkpoint_names_key_and_path(tmp_path):
    absent = str(tmp_path / 'absent.pth')
    cfg = Config(dict(model=dict(backbone=dict(init_cfg=dict(INIT)))))
    cfg.model.backbone.init_cfg.checkpoint = absent
    with pytest.raises(InputError) as err:
        check_init_checkpoints(cfg)
    assert 'model.backbone.init_cfg.checkpoint' in str(err.value)
    assert absent in str(err.value)


def test_empty_checkpoint_of_vit_b_config_is_caught():
    """The ViT-B fine-tuning configs leave the checkpoint to the user."""
    cfg = Config.fromfile(
        str(REPO / 'configs/baselines/imagenet_lt/vit-base-p16_mae-ft_ce.py'))
    with pytest.raises(
            InputError, match='init_cfg.checkpoint is '
            'empty: give the weights with tools/train.py --init-backbone'):
        check_init_checkpoints(cfg)


def test_pipeline_stage_options_are_checked(tmp_path):
    absent = str(tmp_path / 'absent.pth')
    cfg = Config(
        dict(
            model=dict(type='ImageClassifier'),
            train_cfg=dict(
                type='StageRunner',
                stage_cfg_options={
                    'model':
                    dict(backbone=dict(init_cfg=dict(checkpoint=absent)))
                })))
    with pytest.raises(
            InputError,
            match='train_cfg.stage_cfg_options'
            '.model.backbone.init_cfg.checkpoint'):
        check_init_checkpoints(cfg)


def test_existing_and_remote_checkpoints_pass(tmp_path):
    local = tmp_path / 'mgp.pth'
    local.write_bytes(b'')
    for checkpoint in (str(local), 'https://example.org/mae.pth'):
        cfg = Config(dict(model=dict(backbone=dict(init_cfg=dict(INIT)))))
        cfg.model.backbone.init_cfg.checkpoint = checkpoint
        check_init_checkpoints(cfg)


def test_pretrained_inside_a_list_is_an_error(tmp_path):
    local = tmp_path / 'mgp.pth'
    local.write_bytes(b'')
    cfg = Config(
        dict(
            model=dict(
                backbone=dict(init_cfg=[
                    dict(type='Kaiming', layer='Conv2d'),
                    dict(INIT, checkpoint=str(local))
                ]))))
    with pytest.raises(
            ValueError,
            match='model.backbone.init_cfg: a '
            'Pretrained init inside a list'):
        check_init_checkpoints(cfg)
