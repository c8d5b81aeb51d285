"""build_model: a config's model as the Runner builds it."""
import copy

from _toy_fisher import model_cfg
from mmengine.config import Config

from mmpretrain_osdtw.models.utils import build_model

PREPROCESSOR = dict(num_classes=5, mean=[1.0] * 3, std=[2.0] * 3)


def test_top_level_preprocessor_and_config_untouched():
    model = model_cfg()
    del model['data_preprocessor']
    cfg = Config(dict(model=model, data_preprocessor=PREPROCESSOR))
    before = copy.deepcopy(cfg.to_dict())
    built = build_model(cfg)
    assert built.head.task == 'head'
    assert built.data_preprocessor.mean.flatten().tolist() == [1.0] * 3
    assert cfg.to_dict() == before


def test_the_models_own_preprocessor_wins():
    cfg = Config(dict(model=model_cfg(), data_preprocessor=PREPROCESSOR))
    built = build_model(cfg)
    assert built.data_preprocessor.mean.flatten().tolist() == [120.0] * 3
