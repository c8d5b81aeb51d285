"""Start a model config's backbones from a checkpoint (MGP / MAE handover).

Every model class of the project builds its ViT from a ``backbone`` config
(``ImageClassifier`` and ``MOREClassifier``: ``model.backbone``;
``DualDecoderClassifier``: ``model.backbone``, copied into the encoder and
both decoders; ``TaskPairClassifier``: ``model.model.backbone``, once per
task). :func:`set_backbone_init` points every such backbone at a checkpoint
with ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``
(the keys of an MMPretrain ``MAE`` checkpoint's encoder), and
:func:`check_init_checkpoints` finds init checkpoints that cannot work
before a Runner is built.
"""
import os.path as osp
from typing import Iterator, List, Tuple

from mmpretrain_osdtw.utils import InputError

MGP_PREFIX = 'backbone.'
# Checkpoints behind these are fetched by mmengine, not checked here.
REMOTE_SCHEMES = ('http://', 'https://', 's3://', 'open-mmlab://',
                  'torchvision://', 'mmcls://', 'pavi://')


def _backbones(node, path: str) -> Iterator[Tuple[str, dict]]:
    """``(key path, config)`` of every ``backbone`` dict below ``node``."""
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        child = f'{path}.{key}'
        if key == 'backbone' and isinstance(value, dict):
            yield child, value
        elif isinstance(value, dict):
            yield from _backbones(value, child)


def set_backbone_init(model_cfg: dict,
                      checkpoint: str,
                      prefix: str = MGP_PREFIX) -> List[str]:
    """Initialise every backbone of ``model_cfg`` from ``checkpoint``.

    The backbone's ``init_cfg`` is replaced by one dict (a list would let
    ``VisionTransformer`` re-draw its position embedding after loading).

    Args:
        model_cfg (dict): ``cfg.model``, changed in place.
        checkpoint (str): An MGP (MMPretrain ``MAE``) checkpoint, or any
            checkpoint whose ``prefix`` keys fit the backbone.
        prefix (str): Key prefix of the backbone weights in the checkpoint.
            Defaults to ``'backbone.'``.

    Returns:
        list[str]: The key paths set, e.g. ``['model.backbone.init_cfg']``.

    Raises:
        KeyError: If the model config has no backbone.
    """
    paths = []
    for path, backbone in _backbones(model_cfg, 'model'):
        backbone['init_cfg'] = dict(
            type='Pretrained', checkpoint=checkpoint, prefix=prefix)
        paths.append(f'{path}.init_cfg')
    if not paths:
        raise KeyError(f'model {model_cfg.get("type")!r} has no `backbone` '
                       'config to initialise from a checkpoint')
    return paths


def _init_cfgs(node, path: str) -> Iterator[Tuple[str, object]]:
    """``(key path, value)`` of every ``init_cfg`` below ``node``."""
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        child = f'{path}.{key}'
        if key == 'init_cfg':
            yield child, value
        elif isinstance(value, dict):
            yield from _init_cfgs(value, child)


def _is_pretrained(init_cfg) -> bool:
    return isinstance(init_cfg, dict) and (init_cfg.get('type') == 'Pretrained'
                                           or 'checkpoint' in init_cfg)


def check_init_checkpoints(cfg) -> None:
    """Fail early on init checkpoints that cannot load.

    Looks at every ``init_cfg`` under ``cfg.model`` and under the pipeline's
    ``train_cfg.stage_cfg_options`` (overrides given to every stage).

    Args:
        cfg (Config): A complete training config.

    Raises:
        FileNotFoundError: A local ``checkpoint`` that is empty or does not
            exist (names the key and the path).
        InputError: A ``Pretrained`` init inside an ``init_cfg`` list of a
            backbone (``VisionTransformer`` would re-initialise its position
            embedding after loading; names the key).
    """
    roots = [('model', cfg.get('model'))]
    train_cfg = cfg.get('train_cfg') or {}
    if isinstance(train_cfg, dict) and train_cfg.get('stage_cfg_options'):
        roots.append(
            ('train_cfg.stage_cfg_options', train_cfg['stage_cfg_options']))
    for root, node in roots:
        for path, init_cfg in _init_cfgs(node, root):
            if isinstance(init_cfg, (list, tuple)) and any(
                    _is_pretrained(c) for c in init_cfg):
                raise InputError(
                    f'{path}: a Pretrained init inside a list is applied '
                    'before the ViT re-draws its position embedding; give '
                    "init_cfg as one dict(type='Pretrained', ...)")
            if _is_pretrained(init_cfg):
                _check_local_checkpoint(f'{path}.checkpoint',
                                        init_cfg.get('checkpoint'))


def _check_local_checkpoint(key: str, checkpoint) -> None:
    if not checkpoint:
        raise FileNotFoundError(
            f'{key} is empty: give the checkpoint (tools/train.py '
            f'--init-backbone CKPT, or --cfg-options {key}=CKPT)')
    checkpoint = str(checkpoint)
    if checkpoint.startswith(REMOTE_SCHEMES):
        return
    if not osp.isfile(osp.expanduser(checkpoint)):
        raise FileNotFoundError(
            f'{key}: checkpoint {checkpoint!r} does not exist')
