"""An MGP config whose image, patch and decoder sizes disagree is a
one-line error naming the config file and the key."""
import copy
from pathlib import Path

import pytest
from mmengine.config import Config

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.models.utils import check_mgp_geometry

REPO = Path(__file__).resolve().parents[3]
CIFAR = REPO / 'configs/mgp/cifar10_lt/mae_vit-mini-p8_1xb256-coslr-200e.py'
# LongTailedDataset -> InMemoryImages -> CustomDataset
PIPELINE = 'train_dataloader.dataset.dataset.dataset.pipeline'


@pytest.fixture(scope='module')
def loaded():
    return Config.fromfile(str(CIFAR))


@pytest.fixture
def cfg(loaded):
    return copy.deepcopy(loaded)


def test_shipped_config_passes(cfg):
    check_mgp_geometry(cfg)


@pytest.mark.parametrize(
    'options, key', [
        ({
            'model.backbone.img_size': (32, 24)
        }, 'is not square'),
        ({
            'model.backbone.img_size': 30,
            f'{PIPELINE}.1.scale': 30
        }, 'is not divisible by'),
        ({
            'model.neck.num_patches': 196
        }, 'model.neck.num_patches=196'),
        ({
            'model.neck.patch_size': 4
        }, 'model.neck.patch_size=4'),
        ({
            'model.neck.embed_dim': 128
        }, 'model.neck.embed_dim=128'),
        ({
            'model.head.patch_size': 16
        }, 'model.head.patch_size=16'),
        ({
            f'{PIPELINE}.1.scale': 28
        }, f'{PIPELINE}[1] RandomResizedCrop'),
        ({
            f'{PIPELINE}.1.scale': (32, 28)
        }, 'the images are not square'),
    ],
    ids=[
        'not-square', 'not-divisible', 'num-patches', 'neck-patch',
        'neck-dims', 'head-patch', 'crop-size', 'crop-not-square'
    ])
def test_bad_geometry_names_file_and_key(cfg, options, key):
    cfg.merge_from_dict(options)
    with pytest.raises(ValueError) as err:
        check_mgp_geometry(cfg)
    message = str(err.value)
    assert key in message and str(CIFAR) in message
    assert '\n' not in message


def test_other_configs_pass_untouched():
    cfg = Config.fromfile(
        str(REPO / 'configs/baselines/digits_lt/vit-nano-p2_ce.py'))
    check_mgp_geometry(cfg)
