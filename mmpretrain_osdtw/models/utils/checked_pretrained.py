"""A ``Pretrained`` weight initializer that checks what it loads.

mmengine's ``PretrainedInit`` loads with ``strict=False`` and only logs a
warning when a checkpoint does not fit: a ViT started from another
architecture's MGP/MAE checkpoint trains from its random initialisation
without anyone noticing. :class:`CheckedPretrainedInit` keeps mmengine's
arguments and semantics (``checkpoint``, ``prefix``, ``map_location``) and

* raises :class:`InitCheckpointError` naming the file when the checkpoint
  has no ``prefix`` key at all, or when a tensor's shape differs from the
  module's (naming the first such key);
* logs one line: how many tensors were loaded and which keys are missing
  (kept at their initialisation, e.g. MORE's low-rank tails) or unexpected
  (in the checkpoint, not in the module, e.g. MAE's final norm when the
  fine-tuning ViT average-pools).

It is registered as ``'Pretrained'`` in ``mmpretrain.registry.
WEIGHT_INITIALIZERS``, so every ``init_cfg=dict(type='Pretrained', ...)``
built under the ``mmpretrain`` default scope (every project config) uses
it. The name must stay ``'Pretrained'``: mmengine's ``BaseModule`` applies a
``Pretrained`` init after the children's own initialisation, and
``VisionTransformer`` skips re-drawing its position embedding, only for that
type name.

Shapes are checked by ``torch.nn.Module.load_state_dict`` itself, after the
module's load hooks ran: ``VisionTransformer`` resizes a checkpoint's
position embedding to its own grid there, so a checkpoint pretrained at
another resolution still loads.
"""
import re
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit, update_init_info
from mmengine.runner.checkpoint import CheckpointLoader
from mmpretrain.registry import WEIGHT_INITIALIZERS
from torch import nn

from mmpretrain_osdtw.utils import InputError

_SIZE_MISMATCH = re.compile(r'size mismatch for ([^:\s]+): (.*)')
# How many key names the summary line lists before "+N more".
SHOWN_KEYS = 8


class InitCheckpointError(InputError):
    """An init checkpoint that cannot initialise the module (wrong
    architecture, no weights under the prefix, unreadable file)."""


def _key_list(keys: Sequence[str]) -> str:
    keys = list(keys)
    shown = ', '.join(keys[:SHOWN_KEYS])
    more = len(keys) - SHOWN_KEYS
    return f'[{shown}{f", +{more} more" if more > 0 else ""}]'


def load_prefixed_state(checkpoint: str,
                        prefix: Optional[str],
                        map_location='cpu') -> Dict[str, torch.Tensor]:
    """The tensors of ``checkpoint`` under ``prefix``, prefix stripped.

    Args:
        checkpoint (str): Path or URL.
        prefix (str, optional): E.g. ``'backbone.'``; None keeps every key.
        map_location (str): Where to map the tensors.

    Returns:
        dict: The state dict for the module.

    Raises:
        InitCheckpointError: If the file is missing or unreadable, or has
            no key under ``prefix``.
        UntrustedCheckpointError: If it holds more than weights (see
            :func:`~mmpretrain_osdtw.utils.load_checkpoint_file`).
    """
    if not checkpoint:
        raise InitCheckpointError(
            'init_cfg Pretrained: the checkpoint path is empty (set '
            '`init_cfg.checkpoint`, e.g. with tools/train.py '
            '--init-backbone CKPT)')
    try:
        ckpt = CheckpointLoader.load_checkpoint(
            checkpoint, map_location=map_location)
    except FileNotFoundError as err:
        raise InitCheckpointError(f'init checkpoint {checkpoint!r} does not '
                                  f'exist ({err})') from None
    except InputError:
        raise  # refused as untrusted: the message names the file
    except Exception as err:  # unpickling errors have no common base
        raise InitCheckpointError(
            f'{checkpoint}: not a checkpoint torch can read '
            f'({type(err).__name__}: {err})') from None
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise InitCheckpointError(f'{checkpoint}: holds no state dict')
    if prefix is None:
        return dict(state)
    out = {
        k[len(prefix):]: v
        for k, v in state.items() if k.startswith(prefix)
    }
    if not out:
        first = ', '.join(list(state)[:3])
        raise InitCheckpointError(
            f"{checkpoint}: no '{prefix}*' key (another architecture? its "
            f'keys start with: {first})')
    return out


def load_checked(module: nn.Module, state: Dict[str, torch.Tensor],
                 checkpoint: str) -> List[str]:
    """Load ``state`` into ``module``; shape mismatches are errors.

    Args:
        module (nn.Module): The module to initialise.
        state (dict): Its state dict (module-relative names).
        checkpoint (str): The file, for messages.

    Returns:
        list[str]: The one-line summary's parts ``[loaded, missing,
        unexpected]`` (also logged).

    Raises:
        InitCheckpointError: On the first shape mismatch (names the file,
            the module class and the key).
    """
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as err:
        match = _SIZE_MISMATCH.search(str(err))
        if match is None:
            raise
        raise InitCheckpointError(
            f'{checkpoint} does not fit {type(module).__name__}: first '
            f'mismatched key {match.group(1)!r}: {match.group(2)}') from None
    missing = [
        k for k in result.missing_keys if 'num_batches_tracked' not in k
    ]
    unexpected = list(result.unexpected_keys)
    loaded = len(state) - len(unexpected)
    parts = [
        f'loaded {loaded} tensors from {checkpoint} into '
        f'{type(module).__name__}', f'missing: {_key_list(missing)}',
        f'unexpected: {_key_list(unexpected)}'
    ]
    print_log('; '.join(parts), logger='current')
    return parts


@WEIGHT_INITIALIZERS.register_module(name='Pretrained')
class CheckedPretrainedInit(PretrainedInit):
    """mmengine's ``Pretrained`` init with errors instead of warnings.

    Args:
        checkpoint (str): The checkpoint (path or URL, trusted source).
        prefix (str, optional): Load only the keys under this prefix (e.g.
            ``'backbone.'`` for the encoder of an MAE checkpoint), stripped.
            Defaults to None (the whole state dict).
        map_location (str): Where to map the tensors. Defaults to 'cpu'.

    Example:
        >>> backbone = dict(type='VisionTransformer', ..., init_cfg=dict(
        ...     type='Pretrained', checkpoint='work_dirs/mgp/epoch_200.pth',
        ...     prefix='backbone.'))  # doctest: +SKIP
    """

    def __call__(self, module: nn.Module) -> None:
        state = load_prefixed_state(self.checkpoint, self.prefix,
                                    self.map_location)
        load_checked(module, state, self.checkpoint)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())
