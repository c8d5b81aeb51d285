# MORE (model rebalancing) on the cross-entropy baseline, ImageNet-LT.
# Rank-16 MORE tails on every ViT block linear layer (see
# configs/_base_/more_vit.py). Test the merged plain model with the
# baseline config:
#   python tools/test.py \
#       configs/baselines/imagenet_lt/vit-base-p16_mae-ft_ce.py \
#       work_dirs/vit-base-p16_mae-ft_more_ce/merged.pth
# MAE weights (W_g only: the tail_A / tail_B keys are reported missing)
# as for the baseline: --cfg-options model.backbone.init_cfg.checkpoint=...
_base_ = [
    '../../baselines/imagenet_lt/vit-base-p16_mae-ft_ce.py',
    '../../_base_/more_vit.py',
]

model = dict(
    type='MOREClassifier',
    rank=16,
    target_modules={{_base_.more_vit_targets}},
    rebalancing_loss={{_base_.more_rebalancing_loss}})
custom_hooks = {{_base_.more_hooks}}
