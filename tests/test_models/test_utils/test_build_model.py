"""build_model: a config's model as the Runner builds it."""
import copy

from mmengine.config import Config

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.models.utils import build_model

MODEL = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=16, num_layers=1, num_heads=2, feedforward_channels=32),
        img_size=8,
        patch_size=4),
    head=dict(type='LinearClsHead', num_classes=3, in_channels=16))
PREPROCESSOR = dict(num_classes=3, mean=[1.0] * 3, std=[2.0] * 3)


def test_top_level_preprocessor_and_config_untouched():
    cfg = Config(dict(model=MODEL, data_preprocessor=PREPROCESSOR))
    before = copy.deepcopy(cfg.to_dict())
    model = build_model(cfg)
    assert type(model).__name__ == 'ImageClassifier'
    assert model.data_preprocessor.mean.flatten().tolist() == [1.0] * 3
    assert cfg.to_dict() == before


def test_the_models_own_preprocessor_wins():
    own = dict(MODEL, data_preprocessor=dict(PREPROCESSOR, mean=[5.0] * 3))
    model = build_model(
        Config(dict(model=own, data_preprocessor=PREPROCESSOR)))
    assert model.data_preprocessor.mean.flatten().tolist() == [5.0] * 3
