"""MORE (model rebalancing) on an MMPretrain image classifier.

Training minimises ``L_task(z, y) + alpha(t) * L_MORE(z, z_g, y)``: the
task loss of any head on the full-path logits ``z`` (``W_g + B A``) plus the
prior-weighted discrepancy to the general-path logits ``z_g`` (``W_g``
only). ``alpha(t)`` is set every iteration by ``MOREScheduleHook``.
Prediction uses the full path; after training the tail is folded into the
weights (``merged.pth``) and the plain model is evaluated.
"""
import math
from contextlib import nullcontext
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from .low_rank import general_path, inject_low_rank

# The ViT's linear layers: attention qkv and output projection, both MLP
# layers (MMPretrain names them ffn.layers.0.0 and ffn.layers.1). The
# classification head is not decomposed unless a pattern names it
# (e.g. r'head\.layers\.head').
VIT_TARGETS = (
    r'backbone\.layers\.\d+\.attn\.qkv',
    r'backbone\.layers\.\d+\.attn\.proj',
    r'backbone\.layers\.\d+\.ffn\.layers\.(0\.0|1)',
)
MISSING_WEIGHT_HINT = (
    "add `dict(type='MOREScheduleHook')` to `custom_hooks` or call "
    '`set_rebalance_weight`')


class _RNGState:
    """Random-number state of the CPU and of one CUDA device."""

    def __init__(self, device: torch.device) -> None:
        self.cpu = torch.get_rng_state()
        self.device = device if device.type == 'cuda' else None
        self.cuda = (None if self.device is None else torch.cuda.get_rng_state(
            self.device))

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.device is not None:
            torch.cuda.set_rng_state(self.cuda, self.device)


@MODELS.register_module()
class MOREClassifier(ImageClassifier):
    """An ``ImageClassifier`` trained with MORE (model rebalancing).

    The linear layers named by ``target_modules`` become
    ``W = W_g + B A`` (rank ``rank``, ``B = 0`` at start, so a fresh model
    equals the plain one). ``loss`` runs two passes on the same batch:

    - full path -> logits ``z``, task loss ``loss`` of the head;
    - general path (``W_g`` only) -> logits ``z_g``;

    and adds ``loss_more = alpha * L_MORE(z, z_g, y)`` (see
    ``MORERebalancingLoss``). It also logs ``more_discrepancy``
    (``L_MORE``) and ``more_alpha``. By default both passes use the same
    dropout / drop-path masks (``share_randomness``), so the discrepancy
    measures the tail component only.

    Args:
        backbone (dict): Backbone config (e.g. ``VisionTransformer``).
        head (dict): Any classification head (``VisionTransformerClsHead``
            with CE, ``LogitAdjustedCEHead``, ``LogitAdjustedBCEHead``).
        neck (dict, optional): Neck config. Defaults to None.
        rank (int): Rank ``r`` of every tail part. Defaults to 8.
        target_modules (str | Sequence[str]): Regular expressions matched
            against whole module names of this classifier
            (``re.fullmatch``); every matched ``nn.Linear`` is decomposed.
            Defaults to :data:`VIT_TARGETS` (all ViT block linears, not the
            head).
        rebalancing_loss (dict): Config of the rebalancing loss. Defaults
            to ``dict(type='MORERebalancingLoss', distance='l2')``.
        detach_general (bool): Stop the gradient through the general path
            (it then runs without autograd). Defaults to False.
        share_randomness (bool): Replay the random state so both passes
            draw the same dropout / drop-path masks. Defaults to True.
        rebalance_weight (float, optional): A fixed ``alpha``; normally
            None and set by ``MOREScheduleHook``. Defaults to None.
        pretrained (str, optional): Checkpoint of the whole model.
        train_cfg (dict, optional): ``augments`` (Mixup / CutMix).
        data_preprocessor (dict, optional): Defaults to
            ``ClsDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config.

    Example:
        >>> model = MOREClassifier(
        ...     backbone=dict(type='VisionTransformer', arch=dict(
        ...         embed_dims=16, num_layers=2, num_heads=2,
        ...         feedforward_channels=32), img_size=8, patch_size=4),
        ...     head=dict(type='VisionTransformerClsHead', num_classes=3,
        ...               in_channels=16),
        ...     rank=2,
        ...     rebalancing_loss=dict(type='MORERebalancingLoss',
        ...                           class_counts=[30, 20, 10]),
        ...     rebalance_weight=6.0)
        >>> len(model.low_rank_names)  # 2 blocks x (qkv, proj, 2 MLP)
        8
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 neck: Optional[dict] = None,
                 rank: int = 8,
                 target_modules: Union[str, Sequence[str]] = VIT_TARGETS,
                 rebalancing_loss: dict = dict(
                     type='MORERebalancingLoss', distance='l2'),
                 detach_general: bool = False,
                 share_randomness: bool = True,
                 rebalance_weight: Optional[float] = None,
                 pretrained: Optional[str] = None,
                 train_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if head is None:
            raise ValueError('MOREClassifier needs a classification head')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            train_cfg=train_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.rank = rank
        self.low_rank_names = inject_low_rank(self, target_modules, rank)
        self.rebalancing_loss = MODELS.build(rebalancing_loss)
        self.detach_general = bool(detach_general)
        self.share_randomness = bool(share_randomness)
        self._alpha = None
        if rebalance_weight is not None:
            self.set_rebalance_weight(rebalance_weight)

    # ------------------------------------------------------------------
    # schedule interface (used by MOREScheduleHook)
    @property
    def num_classes(self) -> int:
        """The number of classes ``K`` (from the head)."""
        num_classes = getattr(self.head, 'num_classes', None)
        if num_classes is None:
            raise AttributeError(f'{type(self.head).__name__} has no '
                                 '`num_classes`')
        return int(num_classes)

    @property
    def rebalance_weight(self) -> Optional[float]:
        """The current ``alpha`` (None until set)."""
        return self._alpha

    def set_rebalance_weight(self, alpha: float) -> None:
        """Set ``alpha``, the weight of ``L_MORE`` in the total loss.

        Args:
            alpha (float): A finite number ``>= 0``.
        """
        alpha = float(alpha)
        if not math.isfinite(alpha) or alpha < 0:
            raise ValueError(f'rebalance weight alpha must be a finite '
                             f'number >= 0, got {alpha}')
        self._alpha = alpha

    # ------------------------------------------------------------------
    # training
    def general_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """Logits ``z_g`` of the general path (``W_g`` only).

        Args:
            inputs (torch.Tensor): Pre-processed images ``(B, C, H, W)``.

        Returns:
            torch.Tensor: ``(B, K)``; without autograd when
            ``detach_general``.
        """
        grad = torch.no_grad() if self.detach_general else nullcontext()
        with general_path(self), grad:
            return self.head(self.extract_feat(inputs))

    @staticmethod
    def _replay_randomness(start: Optional[_RNGState], fn, inputs):
        """Run ``fn(inputs)`` with the random state ``start`` (the state the
        full pass began with), then continue from the current state."""
        if start is None:
            return fn(inputs)
        after_full = _RNGState(inputs.device)
        start.restore()
        try:
            return fn(inputs)
        finally:
            after_full.restore()

    @staticmethod
    def prior_targets(data_samples: List[DataSample]) -> torch.Tensor:
        """What the prior weights are read from: the soft ``gt_score``
        (``(B, K)``, Mixup / CutMix) if present, else ``gt_label``
        (``(B,)``)."""
        if 'gt_score' in data_samples[0]:
            return torch.stack([s.gt_score for s in data_samples])
        labels = torch.cat([s.gt_label.reshape(-1) for s in data_samples])
        if labels.numel() != len(data_samples):
            raise ValueError('MOREClassifier: every sample needs exactly one '
                             'gt_label (multi-label data is not supported)')
        return labels

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """Task loss on the full path plus ``alpha * L_MORE``.

        Args:
            inputs (torch.Tensor): Pre-processed images.
            data_samples (list[DataSample]): Samples with ``gt_label`` or
                ``gt_score``.

        Returns:
            dict[str, torch.Tensor]: The head's losses, ``loss_more`` and
            the logged (not summed) ``more_discrepancy`` and
            ``more_alpha``.
        """
        if self._alpha is None:
            raise RuntimeError('MOREClassifier has no rebalance weight '
                               f'alpha: {MISSING_WEIGHT_HINT}')
        start = _RNGState(inputs.device) if self.share_randomness else None
        feats = self.extract_feat(inputs)
        losses = self.head.loss(feats, data_samples)
        logits = self.head(feats)
        general = self._replay_randomness(start, self.general_logits, inputs)
        discrepancy = self.rebalancing_loss(logits, general,
                                            self.prior_targets(data_samples))
        losses['loss_more'] = self._alpha * discrepancy
        losses['more_discrepancy'] = discrepancy.detach()
        losses['more_alpha'] = discrepancy.new_tensor(self._alpha)
        return losses
