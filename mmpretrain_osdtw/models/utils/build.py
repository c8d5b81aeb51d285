"""Build a model from a complete config, as the Runner does."""
import copy

from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS
from torch import nn


def build_model(cfg: Config) -> nn.Module:
    """Build ``cfg.model`` as the Runner would: with the config's top-level
    ``data_preprocessor`` (unless the model sets its own) and under its
    ``default_scope``. The config is not changed.

    Args:
        cfg (Config): A complete config.

    Returns:
        nn.Module: The model, not initialised.

    Example:
        >>> model = build_model(Config.fromfile(path))  # doctest: +SKIP
    """
    model_cfg = copy.deepcopy(cfg['model'])
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor',
                             copy.deepcopy(cfg['data_preprocessor']))
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        return MODELS.build(model_cfg)
