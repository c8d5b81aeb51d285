# MORE (model rebalancing) on the Bal-BCE baseline, CIFAR-100-LT.
# Rank-8 MORE tails on every ViT block linear layer (see
# configs/_base_/more_vit.py). Test the merged plain model with the
# baseline config:
#   python tools/test.py \
#       configs/baselines/cifar100_lt/vit-tiny-p4_bal-bce.py \
#       work_dirs/vit-tiny-p4_more_bal-bce/merged.pth
_base_ = [
    '../../baselines/cifar100_lt/vit-tiny-p4_bal-bce.py',
    '../../_base_/more_vit.py',
]

model = dict(
    type='MOREClassifier',
    rank=8,
    target_modules={{_base_.more_vit_targets}},
    rebalancing_loss={{_base_.more_rebalancing_loss}})
custom_hooks = {{_base_.more_hooks}}
