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
from typing import Iterator, List, Tuple

from mmpretrain_osdtw.utils import InputError, check_checkpoint_path

MGP_PREFIX = 'backbone.'


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


def check_init_checkpoints(cfg, where: str = '',
                           option_prefix: str = '') -> None:
    """Fail early on init checkpoints that cannot load.

    Looks at every ``init_cfg`` under ``cfg.model`` and under the pipeline's
    ``train_cfg.stage_cfg_options`` (overrides given to every stage).

    Args:
        cfg (Config): A complete training config.
        where (str): Prefix of the messages (e.g. which stage config of a
            pipeline). Defaults to none.
        option_prefix (str): Prefix of the ``--cfg-options`` key that the
            message suggests (a pipeline's stage configs take theirs through
            ``train_cfg.stage_cfg_options.``); ``--init-backbone`` is
            suggested only without one. Defaults to none.

    Raises:
        InputError: A local ``checkpoint`` that is empty or does not exist
            (names the key and the path), or a ``Pretrained`` init inside an
            ``init_cfg`` list of a backbone (``VisionTransformer`` would
            re-initialise its position embedding after loading; names the
            key).
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
                    f'{where}{path}: a Pretrained init inside a list is '
                    'applied before the ViT re-draws its position embedding;'
                    " give init_cfg as one dict(type='Pretrained', ...)")
            if _is_pretrained(init_cfg):
                key = f'{path}.checkpoint'
                flag = '' if option_prefix else \
                    'tools/train.py --init-backbone CKPT or '
                check_checkpoint_path(
                    f'{where}{key}', init_cfg.get('checkpoint'),
                    f'give the weights with {flag}--cfg-options '
                    f'{option_prefix}{key}=<path or URL>')
