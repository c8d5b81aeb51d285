"""A shared ViT encoder with two task decoders: the OSDTW model."""
import copy
import warnings
from typing import Dict, List, Optional, Tuple

import torch
from mmpretrain.models.classifiers import BaseClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ..heads import pack_predictions
from ..utils.vit_parts import (STEM_PREFIXES, ViTMeta, check_vit, vit_output,
                               vit_param_layer, vit_stem)

TASKS = ('head', 'tail')


class ViTDecoder(nn.Module):
    """The task-specific part of a split ViT.

    Holds blocks ``shared_depth..L-1`` (keyed by their original block index,
    so ``layers.7`` here is ``layers.7`` of the full ViT), the final norms
    ``ln1``/``ln2`` where the ViT has them, and, when nothing is shared
    (``shared_depth == 0``), the stem as well.

    Args:
        vit (VisionTransformer): The full ViT to copy the modules from.
        shared_depth (int): Number of shared blocks C.
    """

    def __init__(self, vit: nn.Module, shared_depth: int):
        super().__init__()
        self.has_stem = shared_depth == 0
        if self.has_stem:
            self.patch_embed = copy.deepcopy(vit.patch_embed)
            self.cls_token = (None if vit.cls_token is None else nn.Parameter(
                vit.cls_token.detach().clone()))
            self.pos_embed = nn.Parameter(vit.pos_embed.detach().clone())
            self.drop_after_pos = copy.deepcopy(vit.drop_after_pos)
            self.pre_norm = copy.deepcopy(vit.pre_norm)
        self.layers = nn.ModuleDict({
            str(i): copy.deepcopy(vit.layers[i])
            for i in range(shared_depth, vit.num_layers)
        })
        if vit.final_norm:
            self.ln1 = copy.deepcopy(vit.ln1)
        if vit.out_type == 'avg_featmap':
            self.ln2 = copy.deepcopy(vit.ln2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers.values():
            x = layer(x)
        return x


class _DecoderForward(nn.Module):
    """One decoder's whole forward (stem if any, blocks, output) as a
    module, so ``functional_call`` can run it with stacked parameters."""

    def __init__(self, decoder: ViTDecoder, meta: ViTMeta):
        super().__init__()
        self.decoder = decoder
        self.meta = meta

    def forward(self, inputs: torch.Tensor, tokens: Optional[torch.Tensor],
                patch_resolution: Tuple[int, int]) -> torch.Tensor:
        if self.decoder.has_stem:
            tokens, patch_resolution = vit_stem(self.decoder, self.meta,
                                                inputs)
        x = self.decoder(tokens)
        return vit_output(self.decoder, self.meta, x, patch_resolution)


def _truncate_to_encoder(vit: nn.Module, shared_depth: int) -> nn.Module:
    """Keep the stem and the first ``shared_depth`` blocks of ``vit``."""
    vit.layers = vit.layers[:shared_depth]
    for name in ('ln1', 'ln2'):
        if name in vit._modules:
            delattr(vit, name)
    return vit


@MODELS.register_module()
class DualDecoderClassifier(BaseClassifier):
    """Shared ViT encoder + head-task and tail-task decoders (OSDTW).

    The patch/position embedding and the first ``shared_depth`` (C)
    transformer blocks are shared; each task owns blocks ``C+1..L``, the
    final norm and its task head. ``predict`` puts the two tasks' scores back
    into the original class order: a sample's score for class ``c`` comes
    from the task that owns ``c``. Training minimises
    ``head_weight * L_head + (1 - head_weight) * L_tail``.

    ``C = L`` is full sharing (one body, two heads: the paper's stage-2
    model); ``C = 0`` is two separate networks.

    Args:
        backbone (dict): Config of an MMPretrain ``VisionTransformer`` (the
            full, unsplit network).
        head (dict): Config of a task head with a ``task`` argument, such as
            ``LogitAdjustedBCEHead``; built once per task with
            ``task='head'`` and ``task='tail'``.
        shared_depth (int): Number of shared blocks C in ``0..L``.
        head_weight (float): Task weight w_A of the head task in [0, 1];
            the tail task gets ``1 - head_weight``. Defaults to 0.5.
        freeze_encoder (bool): Keep the shared encoder frozen (eval mode,
            no gradients): the decoder refinement of OSDTW stage 3.
            Defaults to False.
        batched_decoders (bool): In eval mode, run the two decoders as one
            batched computation (their parameters stacked on the fly with
            ``torch.func.stack_module_state``, ``vmap`` over the two sets)
            instead of one after the other. Same results up to float
            rounding, same state dict. Defaults to False (on CPU it is not
            faster; see ``docs/benchmarks/speed.md``).
        neck (dict, optional): Must be None (accepted so a config can turn
            an ``ImageClassifier`` into this model by changing ``type``).
        train_cfg (dict, optional): ``augments`` for Mixup/CutMix, as in
            ``ImageClassifier``.
        data_preprocessor (dict, optional): Defaults to
            ``ClsDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config.

    Example:
        >>> model = DualDecoderClassifier(
        ...     backbone=dict(type='VisionTransformer', arch=dict(
        ...         embed_dims=32, num_layers=4, num_heads=2,
        ...         feedforward_channels=64), img_size=8, patch_size=2),
        ...     head=dict(type='LogitAdjustedBCEHead', num_classes=5,
        ...               in_channels=32),
        ...     shared_depth=2, head_weight=0.6)
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 shared_depth: int,
                 head_weight: float = 0.5,
                 freeze_encoder: bool = False,
                 batched_decoders: bool = False,
                 neck: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if neck is not None:
            raise ValueError('DualDecoderClassifier takes the ViT output '
                             f'directly: neck must be None, got {neck}')
        data_preprocessor = data_preprocessor or {}
        if isinstance(data_preprocessor, dict):
            data_preprocessor.setdefault('type', 'ClsDataPreprocessor')
            data_preprocessor.setdefault('batch_augments', train_cfg)
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            init_cfg=init_cfg, data_preprocessor=data_preprocessor)

        self._backbone_cfg = copy.deepcopy(backbone)
        vit = MODELS.build(backbone)
        check_vit(vit)
        self.meta = ViTMeta.from_vit(vit)
        self.shared_depth = self._check_depth(shared_depth,
                                              self.meta.num_layers)
        self.head_weight = self._check_weight(head_weight)
        self.freeze_encoder = freeze_encoder
        self.batched_decoders = bool(batched_decoders)

        self.decoders = nn.ModuleDict(
            {task: ViTDecoder(vit, self.shared_depth)
             for task in TASKS})
        self.backbone = (
            _truncate_to_encoder(vit, self.shared_depth)
            if self.shared_depth > 0 else None)
        self.heads = nn.ModuleDict(
            {task: MODELS.build(dict(head, task=task))
             for task in TASKS})
        if freeze_encoder:
            self._freeze_encoder()

    # ------------------------------------------------------------------
    # construction helpers
    @staticmethod
    def _check_depth(shared_depth: int, num_layers: int) -> int:
        if not isinstance(shared_depth, int) or isinstance(shared_depth, bool):
            raise TypeError(f'shared_depth must be an int, got '
                            f'{type(shared_depth).__name__}')
        if not 0 <= shared_depth <= num_layers:
            raise ValueError(f'shared_depth={shared_depth} is outside '
                             f'0..{num_layers} (the ViT has {num_layers} '
                             'blocks)')
        return shared_depth

    @staticmethod
    def _check_weight(head_weight: float) -> float:
        head_weight = float(head_weight)
        if not 0.0 <= head_weight <= 1.0:
            raise ValueError(f'head_weight={head_weight} is outside [0, 1]')
        return head_weight

    @property
    def task_weights(self) -> Dict[str, float]:
        """The loss weights ``{'head': w_A, 'tail': 1 - w_A}``."""
        return {'head': self.head_weight, 'tail': 1.0 - self.head_weight}

    def _freeze_encoder(self) -> None:
        if self.backbone is None:
            return
        self.backbone.eval()
        for param in self.backbone.parameters():
            param.requires_grad = False

    def train(self, mode: bool = True) -> 'DualDecoderClassifier':
        super().train(mode)
        if self.freeze_encoder:
            self._freeze_encoder()
        return self

    def init_weights(self) -> None:
        """Initialise heads, then the split ViT from one full ViT.

        The full ViT is built from the backbone config and initialised
        (including ``init_cfg=dict(type='Pretrained', ...)``), and its
        weights are copied into the shared encoder and into both decoders,
        so a pretrained checkpoint reaches every block.
        """
        for head in self.heads.values():
            head.init_weights()
        full = MODELS.build(copy.deepcopy(self._backbone_cfg))
        full.init_weights()
        self.load_backbone_state(full.state_dict(), parts='all')

    # ------------------------------------------------------------------
    # weight mapping from unsplit models
    def is_shared(self, backbone_key: str) -> bool:
        """Whether a backbone parameter (name relative to the backbone) is
        in the shared encoder at this model's depth."""
        layer = vit_param_layer(backbone_key, self.meta.num_layers)
        return 1 <= layer <= self.shared_depth

    def backbone_key_targets(self,
                             backbone_key: str,
                             tasks=TASKS) -> List[str]:
        """Names in this model of a parameter of the unsplit ViT."""
        if self.is_shared(backbone_key):
            return [f'backbone.{backbone_key}']
        return [f'decoders.{task}.{backbone_key}' for task in tasks]

    def load_backbone_state(self,
                            state: Dict[str, torch.Tensor],
                            parts: str = 'all',
                            tasks=TASKS) -> None:
        """Copy the weights of an unsplit ViT into this model.

        Args:
            state (dict): ``VisionTransformer.state_dict()`` (names relative
                to the backbone).
            parts (str): ``'encoder'`` (shared parameters only),
                ``'decoder'`` (task-specific ones only) or ``'all'``.
            tasks (tuple): Decoders to fill. Defaults to both.
        """
        if parts not in ('encoder', 'decoder', 'all'):
            raise ValueError(f'parts must be encoder, decoder or all, got '
                             f'{parts!r}')
        own = self.state_dict()
        with torch.no_grad():
            for key, value in state.items():
                shared = self.is_shared(key)
                if (parts == 'encoder' and not shared) or (parts == 'decoder'
                                                           and shared):
                    continue
                for target in self.backbone_key_targets(key, tasks):
                    if target not in own:
                        raise KeyError(f'{target!r} (from backbone key '
                                       f'{key!r}) is not in the model')
                    if own[target].shape != value.shape:
                        raise ValueError(
                            f'{target!r}: shape {tuple(value.shape)} does '
                            f'not match {tuple(own[target].shape)}')
                    own[target].copy_(value)

    # ------------------------------------------------------------------
    # forward
    def encode(
        self, inputs: torch.Tensor
    ) -> Tuple[Optional[torch.Tensor], Tuple[int, int]]:
        """Run the shared encoder (``None`` tokens when C = 0)."""
        if self.backbone is None:
            return None, (0, 0)
        x, patch_resolution = vit_stem(self.backbone, self.meta, inputs)
        for layer in self.backbone.layers:
            x = layer(x)
        return x, patch_resolution

    def decode(self, task: str, inputs: torch.Tensor,
               tokens: Optional[torch.Tensor],
               patch_resolution: Tuple[int, int]) -> Tuple[torch.Tensor]:
        """Run one task decoder on the shared tokens."""
        decoder = self.decoders[task]
        if decoder.has_stem:
            tokens, patch_resolution = vit_stem(decoder, self.meta, inputs)
        x = decoder(tokens)
        return (vit_output(decoder, self.meta, x, patch_resolution), )

    def extract_feat(self,
                     inputs: torch.Tensor) -> Dict[str, Tuple[torch.Tensor]]:
        """Features of both tasks: ``{'head': (f,), 'tail': (f,)}``."""
        tokens, patch_resolution = self.encode(inputs)
        if self.batched_decoders and not self.training:
            return self.decode_batched(inputs, tokens, patch_resolution)
        return {
            task: self.decode(task, inputs, tokens, patch_resolution)
            for task in TASKS
        }

    def decode_batched(
        self, inputs: torch.Tensor, tokens: Optional[torch.Tensor],
        patch_resolution: Tuple[int, int]
    ) -> Dict[str, Tuple[torch.Tensor]]:
        """Both decoders in one ``vmap`` over their stacked parameters.

        The parameters are stacked on every call (no copy is kept, so the
        state dict and training are unaffected); gradients do not flow to
        the decoders' own parameters, so use it for inference only.
        """
        decoders = [self.decoders[task] for task in TASKS]
        params, buffers = stack_module_state(decoders)
        runner = _DecoderForward(decoders[0], self.meta)
        state = {f'decoder.{k}': v for k, v in {**params, **buffers}.items()}

        def run(one_state: Dict[str, torch.Tensor]) -> torch.Tensor:
            return functional_call(runner, one_state,
                                   (inputs, tokens, patch_resolution))

        with warnings.catch_warnings():
            # vmap runs the fused attention kernel once per decoder (no
            # batching rule); measured faster here than the math kernel
            # batched (docs/benchmarks/speed.md), so the notice is noise.
            warnings.filterwarnings(
                'ignore', message='There is a performance drop')
            out = vmap(run)(state)
        return {task: (out[i], ) for i, task in enumerate(TASKS)}

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """``tensor``: raw logits (B, K) in the original class order;
        ``loss``: the weighted task losses; ``predict``: data samples."""
        if mode == 'tensor':
            return self.class_logits(self.extract_feat(inputs))
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}".')

    def class_logits(self, feats: Dict[str,
                                       Tuple[torch.Tensor]]) -> torch.Tensor:
        """Both tasks' raw logits placed at their original class ids."""
        return sum(self.heads[task].scatter_to_classes(
            self.heads[task].task_logits(feats[task])) for task in TASKS)

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """``{'loss_head': w_A * L_A, 'loss_tail': w_B * L_B}``."""
        feats = self.extract_feat(inputs)
        losses = {}
        for task, weight in self.task_weights.items():
            task_losses = self.heads[task].loss(feats[task], data_samples)
            losses[f'loss_{task}'] = weight * task_losses['loss']
        return losses

    def predict(
            self,
            inputs: torch.Tensor,
            data_samples: Optional[List[DataSample]] = None
    ) -> List[DataSample]:
        """Sigmoid scores of the owning task for every class."""
        logits = self.class_logits(self.extract_feat(inputs))
        return pack_predictions(torch.sigmoid(logits), data_samples)

    # ------------------------------------------------------------------
    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """Layer depth for layer-wise lr decay, as ViT numbers it: stem 0,
        block i -> i + 1 (in the encoder or a decoder), norms and heads
        L + 1.

        Returns:
            Tuple[int, int]: The depth and the number of depths (L + 2).
        """
        num_depths = self.meta.num_layers + 2
        name = param_name[len(prefix):] if param_name.startswith(
            prefix) else param_name
        for owner in ('backbone.', 'decoders.head.', 'decoders.tail.'):
            if not name.startswith(owner):
                continue
            rel = name[len(owner):]
            if rel.startswith(STEM_PREFIXES):
                return 0, num_depths
            if rel.startswith('layers.'):
                return int(rel.split('.')[1]) + 1, num_depths
        return num_depths - 1, num_depths
