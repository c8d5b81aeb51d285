"""The geometry an MGP (MMPretrain ``MAE``) config must agree on.

``MAEViT`` masks a square grid of patches, ``MAEPretrainDecoder`` holds a
position embedding for ``num_patches`` tokens (default 196, ViT-B/16 at
224 px, whatever the backbone), and ``MAEPretrainHead`` cuts the target
image into patches of its own ``patch_size``. When these disagree MMPretrain
fails with a tensor-shape error deep in the first iteration (or, for a
non-square image, silently reconstructs the wrong patches).
:func:`check_mgp_geometry` compares them from the config alone, so a
mistake is a one-line error naming the key before any training starts.
"""
from typing import Iterator, Optional, Tuple

from mmpretrain.models.backbones import VisionTransformer

from mmpretrain_osdtw.utils import InputError

MGP_BACKBONES = ('MAEViT', 'mmpretrain.MAEViT')
# Transforms whose argument fixes the size of the images they output.
SIZE_ARGS = {
    'RandomResizedCrop': 'scale',
    'RandomCrop': 'crop_size',
    'CenterCrop': 'crop_size',
    'Resize': 'scale',
}
DECODER_NUM_PATCHES = 196  # MAEPretrainDecoder's default


def _pair(value) -> Tuple[int, int]:
    if isinstance(value, int):
        return value, value
    return tuple(value)


def _embed_dims(arch) -> Optional[int]:
    if isinstance(arch, dict):
        return arch.get('embed_dims')
    zoo = VisionTransformer.arch_zoo
    return zoo[arch.lower()]['embed_dims'] if arch.lower() in zoo else None


def _pipelines(dataset, path: str) -> Iterator[Tuple[str, list]]:
    """``(key path, pipeline)`` of a dataset and of the datasets it wraps."""
    while isinstance(dataset, dict):
        if dataset.get('pipeline'):
            yield f'{path}.pipeline', dataset['pipeline']
        path, dataset = f'{path}.dataset', dataset.get('dataset')


def _output_size(pipeline: list) -> Optional[Tuple[str, Tuple[int, int]]]:
    """The last size-fixing transform of a pipeline and its size."""
    found = None
    for i, step in enumerate(pipeline):
        arg = SIZE_ARGS.get(str(step.get('type', '')).split('.')[-1])
        if arg and step.get(arg) is not None:
            found = (f'[{i}] {step["type"]}.{arg}', _pair(step[arg]))
    return found


def check_mgp_geometry(cfg) -> None:
    """Raise a one-line ``ValueError`` for an MGP config whose image, patch
    and decoder sizes do not fit; other configs pass untouched.

    Checks: ``model.backbone.img_size`` square and divisible by
    ``patch_size``; ``model.neck.num_patches == (img_size / patch_size)^2``
    and the neck's ``patch_size``/``embed_dim`` equal the backbone's;
    ``model.head.patch_size`` equals the backbone's; the training
    pipeline's crop/resize (last one) outputs square ``img_size`` images.

    Args:
        cfg (Config): The config (``cfg.filename`` is named in errors).
    """
    model = cfg.get('model') or {}
    backbone = model.get('backbone') or {}
    if backbone.get('type') not in MGP_BACKBONES:
        return
    where = getattr(cfg, 'filename', None) or 'config'

    def fail(message: str) -> None:
        raise InputError(f'{where}: {message}')

    height, width = _pair(backbone.get('img_size', 224))
    patch_h, patch_w = _pair(backbone.get('patch_size', 16))
    if height != width:
        fail(f'model.backbone.img_size={height}x{width} is not square: MGP '
             'masks a square grid of patches')
    if patch_h != patch_w:
        fail(f'model.backbone.patch_size={patch_h}x{patch_w} is not square')
    size, patch = height, patch_h
    if size % patch:
        fail(f'model.backbone.img_size={size} is not divisible by '
             f'model.backbone.patch_size={patch}')
    grid = (size // patch)**2
    neck = model.get('neck') or {}
    if neck:
        num_patches = neck.get('num_patches', DECODER_NUM_PATCHES)
        if num_patches != grid:
            fail(f'model.neck.num_patches={num_patches} does not match '
                 f'model.backbone img_size {size} / patch_size {patch}: set '
                 f'it to ({size} / {patch})^2 = {grid}')
        if neck.get('patch_size', 16) != patch:
            fail(f'model.neck.patch_size={neck.get("patch_size", 16)} is not '
                 f'model.backbone.patch_size={patch}')
        dims = _embed_dims(backbone.get('arch', 'b'))
        if dims is not None and neck.get('embed_dim', 1024) != dims:
            fail(f'model.neck.embed_dim={neck.get("embed_dim", 1024)} is not '
                 f'the backbone width {dims}')
    head = model.get('head') or {}
    if head and head.get('patch_size', 16) != patch:
        fail(f'model.head.patch_size={head.get("patch_size", 16)} is not '
             f'model.backbone.patch_size={patch}')
    loader = cfg.get('train_dataloader') or {}
    for path, pipeline in _pipelines(
            loader.get('dataset'), 'train_dataloader.dataset'):
        found = _output_size(pipeline)
        if found is None:
            continue
        step, (out_h, out_w) = found
        if out_h != out_w:
            fail(f'{path}{step}={out_h}x{out_w}: the images are not square')
        if out_h != size:
            fail(f'{path}{step}={out_h} gives {out_h} px images, but '
                 f'model.backbone.img_size={size}')
