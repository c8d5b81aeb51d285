"""Run an MMPretrain ``VisionTransformer`` in pieces: stem, blocks, output.

OSDTW splits a ViT at a block boundary into a shared encoder (patch and
position embedding, blocks ``0..C-1``) and task decoders (blocks ``C..L-1``,
the final norms and the head). These helpers follow
``VisionTransformer.forward`` step by step, so a split model computes exactly
what the whole backbone computes.

Layer numbering used by OSDTW (see README, "Parameter layers"): layer ``l`` in
``1..L`` is block ``l-1``; the stem (patch embedding, class token, position
embedding, pre-norm) belongs to layer 1 together with block 0; final norms and
the classification head are group 0, never shared.
"""
from dataclasses import dataclass
from typing import Tuple

import torch
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from torch import nn

STEM_PREFIXES = ('patch_embed', 'cls_token', 'pos_embed', 'pre_norm',
                 'drop_after_pos')


def check_vit(backbone) -> None:
    """Raise a clear error for a backbone the split model cannot handle."""
    if not isinstance(backbone, VisionTransformer):
        raise TypeError('OSDTW splits MMPretrain VisionTransformer backbones '
                        f'(and subclasses); got {type(backbone).__name__}')
    if list(backbone.out_indices) != [backbone.num_layers - 1]:
        raise ValueError('OSDTW needs the ViT to output its last block only '
                         f'(out_indices=-1); got {backbone.out_indices}')


@dataclass(frozen=True)
class ViTMeta:
    """The settings of a ViT that its split pieces need (no parameters)."""

    num_layers: int
    patch_resolution: Tuple[int, int]
    interpolate_mode: str
    num_extra_tokens: int
    final_norm: bool
    out_type: str

    @classmethod
    def from_vit(cls, vit: VisionTransformer) -> 'ViTMeta':
        return cls(vit.num_layers, tuple(vit.patch_resolution),
                   vit.interpolate_mode, vit.num_extra_tokens, vit.final_norm,
                   vit.out_type)


def vit_stem(stem: nn.Module, meta: ViTMeta,
             x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Patch embedding, class token, position embedding and pre-norm.

    Args:
        stem (nn.Module): Holds ``patch_embed``, ``cls_token``,
            ``pos_embed``, ``drop_after_pos`` and ``pre_norm`` (a
            ``VisionTransformer`` or a decoder that owns its stem).
        meta (ViTMeta): The ViT settings.
        x (torch.Tensor): Images, shape (B, 3, H, W).

    Returns:
        tuple: Tokens (B, N, D) and the patch resolution.
    """
    batch = x.shape[0]
    x, patch_resolution = stem.patch_embed(x)
    if stem.cls_token is not None:
        x = torch.cat((stem.cls_token.expand(batch, -1, -1), x), dim=1)
    x = x + resize_pos_embed(
        stem.pos_embed,
        meta.patch_resolution,
        patch_resolution,
        mode=meta.interpolate_mode,
        num_extra_tokens=meta.num_extra_tokens)
    x = stem.drop_after_pos(x)
    return stem.pre_norm(x), patch_resolution


def vit_output(norms: nn.Module, meta: ViTMeta, x: torch.Tensor,
               patch_resolution: Tuple[int, int]) -> torch.Tensor:
    """Final norm and output formatting after the last block.

    Args:
        norms (nn.Module): Holds ``ln1`` (if ``final_norm``) and ``ln2``
            (if ``out_type='avg_featmap'``) of this branch.
        meta (ViTMeta): The ViT settings.
        x (torch.Tensor): Tokens after the last block.
        patch_resolution (tuple): From :func:`vit_stem`.

    Returns:
        torch.Tensor: The feature the head consumes.
    """
    if meta.final_norm:
        x = norms.ln1(x)
    if meta.out_type == 'raw':
        return x
    if meta.out_type == 'cls_token':
        return x[:, 0]
    patch_token = x[:, meta.num_extra_tokens:]
    if meta.out_type == 'featmap':
        return patch_token.reshape(x.size(0), *patch_resolution,
                                   -1).permute(0, 3, 1, 2)
    return norms.ln2(patch_token.mean(dim=1))


def vit_param_layer(name: str, num_layers: int) -> int:
    """OSDTW layer of a backbone parameter (names without ``backbone.``).

    Args:
        name (str): Parameter name relative to the backbone.
        num_layers (int): Number of blocks L.

    Returns:
        int: ``1..L`` for the stem and blocks, 0 for the final norms.
    """
    if name.startswith(STEM_PREFIXES):
        return 1
    if name.startswith('layers.'):
        block = int(name.split('.')[1])
        if not 0 <= block < num_layers:
            raise ValueError(f'parameter {name!r}: block {block} is outside '
                             f'0..{num_layers - 1}')
        return block + 1
    return 0
