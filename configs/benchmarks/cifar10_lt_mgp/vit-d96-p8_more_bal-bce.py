# MORE (rank-8 tails on every ViT block linear layer, configs/_base_/
# more_vit.py) on the Bal-BCE benchmark recipe (_bench.py). The driver tests
# the merged plain model (work_dir/merged.pth) with vit-d96-p8_bal-bce.py.
_base_ = ['./_bench.py', '../../_base_/more_vit.py']

model = dict(
    type='MOREClassifier',
    rank=8,
    target_modules={{_base_.more_vit_targets}},
    rebalancing_loss={{_base_.more_rebalancing_loss}})
custom_hooks = {{_base_.more_hooks}}
