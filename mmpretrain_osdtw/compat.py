"""Fixes that make MMPretrain 1.2 / mmengine 0.10 run on torch >= 2.6.

Applied once when :mod:`mmpretrain_osdtw` is imported. Nothing here edits an
installed package: every fix goes through a public extension point.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``, which
refuses every mmengine checkpoint (its ``message_hub`` holds
``HistoryBuffer`` and NumPy objects), while mmengine's URL loader calls
``torch.hub.load_state_dict_from_url``, which still loads with
``weights_only=False`` and so runs whatever a downloaded pickle names. The
loaders of local files and of ``http://``/``https://`` URLs are replaced
(``CheckpointLoader.register_scheme``) by those of
:mod:`mmpretrain_osdtw.utils.checkpoint_io`: ``weights_only=True`` with
mmengine's checkpoint types allow-listed; anything else is refused unless
checkpoints are trusted (``--trust-checkpoint``). Every ``load_checkpoint``,
``init_cfg`` Pretrained, ``load_from`` and resume goes through them.
mmengine's model-zoo schemes (``torchvision://``, ``open-mmlab://``,
``mmcls://``) call its own URL loader directly and are not covered: give
such checkpoints by their ``https://`` URL.
"""
import warnings

from mmengine.runner import CheckpointLoader

from .utils.checkpoint_io import load_from_http, load_from_local

_APPLIED = False


def _silence_stack_warnings() -> None:
    """Drop two import-time warnings that are not the user's to act on.

    mmengine's ``is_installed`` reloads ``pkg_resources`` at every call (each
    config with an ``mmpretrain::`` base), and setuptools (67.5 on) warns
    "pkg_resources is deprecated" at every load: 78 lines on stderr for the
    Digits-LT pipeline. mmcv-lite (the stack's mmcv) warns that it has no
    ``MultiScaleDeformableAttention`` op, which MMPretrain's classifiers do
    not use.
    """
    warnings.filterwarnings(
        'ignore', message='pkg_resources is deprecated', category=UserWarning)
    warnings.filterwarnings(
        'ignore',
        message='Fail to import ``MultiScaleDeformableAttention``',
        category=UserWarning)


def apply_stack_fixes() -> None:
    """Register the checkpoint loaders and silence the stack's import-time
    warnings (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'), loader=load_from_http, force=True)
    _silence_stack_warnings()
    _APPLIED = True
