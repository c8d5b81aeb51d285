"""The merged MORE checkpoint: ``W_g + B A`` folded into plain weights.

A MORE state dict is the plain model's state dict plus, for every
decomposed layer ``<name>``, the tail factors ``<name>.tail_A`` (``r x
in``) and ``<name>.tail_B`` (``out x r``); ``<name>.weight`` holds ``W_g``.
Merging replaces ``<name>.weight`` by ``W_g + B A`` (computed in float64,
stored in the weight's dtype) and drops the tail keys, which leaves exactly
the keys, shapes and parameter count of the plain model.

File format (written by :func:`save_merged_checkpoint`, the only writer;
read by any MMPretrain tool as a normal checkpoint)::

    {'meta': {..., 'more_merge': {'merged_layers': [...],
                                  'source': '<path or None>'}},
     'state_dict': OrderedDict(<plain model keys>)}
"""
import os
import os.path as osp
import tempfile
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch

from mmpretrain_osdtw.utils import load_checkpoint_file

TAIL_A = '.tail_A'
TAIL_B = '.tail_B'


def _tail_prefixes(state_dict: Dict[str, torch.Tensor]) -> List[str]:
    """Names of the decomposed layers of a state dict (checked pairs)."""
    prefixes = []
    for key in state_dict:
        for suffix, other in ((TAIL_A, TAIL_B), (TAIL_B, TAIL_A)):
            if key.endswith(suffix):
                prefix = key[:-len(suffix)]
                if prefix + other not in state_dict:
                    raise KeyError(f'{key!r} has no matching '
                                   f'{prefix + other!r} in the state dict')
                if suffix == TAIL_A:
                    prefixes.append(prefix)
    return prefixes


def _merged_weight(prefix: str,
                   state_dict: Dict[str, torch.Tensor]) -> torch.Tensor:
    """``W_g + B A`` of one layer, shapes checked."""
    weight_key = prefix + '.weight'
    if weight_key not in state_dict:
        raise KeyError(f'{prefix + TAIL_A!r} has no general weight '
                       f'{weight_key!r} in the state dict')
    weight = state_dict[weight_key]
    tail_a, tail_b = state_dict[prefix + TAIL_A], state_dict[prefix + TAIL_B]
    out_features, in_features = weight.shape
    if (tail_a.dim() != 2 or tail_b.dim() != 2 or tail_a.size(1) != in_features
            or tail_b.size(0) != out_features
            or tail_b.size(1) != tail_a.size(0)):
        raise ValueError(
            f'layer {prefix!r}: tail_B {tuple(tail_b.shape)} @ tail_A '
            f'{tuple(tail_a.shape)} does not give the weight shape '
            f'{tuple(weight.shape)}')
    merged = weight.double() + tail_b.double() @ tail_a.double()
    return merged.to(weight.dtype)


def merge_state_dict(
    state_dict: Dict[str, torch.Tensor]
) -> Tuple['OrderedDict[str, torch.Tensor]', List[str]]:
    """Fold every ``B A`` of a MORE state dict into its layer weight.

    Args:
        state_dict (dict): A MORE model's state dict (names as in the
            model, e.g. ``backbone.layers.0.attn.qkv.tail_A``).

    Returns:
        tuple: The plain state dict (same key order without the tail keys)
        and the names of the merged layers.

    Raises:
        KeyError: If a tail factor lacks its partner or its weight.
        ValueError: If the shapes do not fit together.

    Example:
        >>> plain, layers = merge_state_dict(model.state_dict())
        ... # doctest: +SKIP
        >>> layers[:1]  # doctest: +SKIP
        ['backbone.layers.0.attn.qkv']
    """
    prefixes = _tail_prefixes(state_dict)
    merged = {p + '.weight': _merged_weight(p, state_dict) for p in prefixes}
    out = OrderedDict()
    for key, value in state_dict.items():
        if key.endswith((TAIL_A, TAIL_B)):
            continue
        out[key] = merged.get(key, value)
    return out, prefixes


def save_merged_checkpoint(state_dict: Dict[str, torch.Tensor],
                           path: str,
                           meta: Optional[dict] = None,
                           source: Optional[str] = None) -> List[str]:
    """Merge a MORE state dict and write it atomically.

    The file is written next to ``path`` under a temporary name and then
    renamed, so a reader never sees a partial checkpoint.

    Args:
        state_dict (dict): A MORE model's state dict.
        path (str): Output file (``.pth``).
        meta (dict, optional): The training checkpoint's ``meta`` (kept, e.g.
            ``dataset_meta`` for the inferencer). Defaults to None.
        source (str, optional): Where the state dict came from, recorded in
            ``meta['more_merge']``. Defaults to None.

    Returns:
        list[str]: Names of the merged layers.
    """
    plain, layers = merge_state_dict(state_dict)
    meta = dict(meta or {})
    meta['more_merge'] = dict(merged_layers=layers, source=source)
    plain = OrderedDict((k, v.detach().cpu()) for k, v in plain.items())
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix='.' + osp.basename(path), suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(dict(meta=meta, state_dict=plain), f)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    return layers


def merge_checkpoint_file(src: str, dst: str) -> List[str]:
    """Merge a MORE checkpoint file (e.g. ``epoch_30.pth``) into ``dst``.

    Args:
        src (str): A checkpoint written by mmengine for a MORE model
            (``state_dict`` key, or a bare state dict).
        dst (str): The merged checkpoint to write.

    Returns:
        list[str]: Names of the merged layers.

    Raises:
        FileNotFoundError: If ``src`` does not exist.
        UntrustedCheckpointError: If ``src`` holds more than weights (see
            :func:`~mmpretrain_osdtw.utils.load_checkpoint_file`).
        ValueError: If ``src`` holds no decomposed layer.
    """
    if not osp.isfile(src):
        raise FileNotFoundError(f'checkpoint {src!r} does not exist')
    ckpt = load_checkpoint_file(src, map_location='cpu')
    state_dict = ckpt.get('state_dict', ckpt)
    meta = ckpt.get('meta', None) if 'state_dict' in ckpt else None
    if not _tail_prefixes(state_dict):
        raise ValueError(f'checkpoint {src!r} has no MORE layer (no key '
                         f'ends with {TAIL_A!r}): nothing to merge')
    return save_merged_checkpoint(state_dict, dst, meta=meta, source=src)
