# MORE (model rebalancing) on the logit-adjusted CE baseline, Digits-LT.
# Rank-4 MORE tails on every ViT block linear layer (see
# configs/_base_/more_vit.py). Test the merged plain model with the
# baseline config:
#   python tools/test.py \
#       configs/baselines/digits_lt/vit-nano-p2_la-ce.py \
#       work_dirs/vit-nano-p2_more_la-ce/merged.pth
_base_ = [
    '../../baselines/digits_lt/vit-nano-p2_la-ce.py',
    '../../_base_/more_vit.py',
]

model = dict(
    type='MOREClassifier',
    rank=4,
    target_modules={{_base_.more_vit_targets}},
    rebalancing_loss={{_base_.more_rebalancing_loss}})
custom_hooks = {{_base_.more_hooks}}
