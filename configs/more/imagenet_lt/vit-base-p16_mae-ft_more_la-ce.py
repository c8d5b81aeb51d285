# MORE (model rebalancing) on the logit-adjusted CE baseline, ImageNet-LT.
# Every linear layer of the ViT blocks (qkv, attention projection, MLP) gets
# a rank-16 tail: W = W_g + B A (B = 0 at start). The loss is the
# baseline's on the full model + alpha(t) * L_MORE, with
# alpha(t) = A' K sin(pi t / T) over the iterations. At the end,
# <work_dir>/merged.pth is the plain model; test it with the baseline config:
#   python tools/test.py \
#       configs/baselines/imagenet_lt/vit-base-p16_mae-ft_la-ce.py \
#       work_dirs/vit-base-p16_mae-ft_more_la-ce/merged.pth
# Give the MAE weights as for the baseline (--cfg-options
# model.backbone.init_cfg.checkpoint=<path or URL>); they hold W_g only, so
# the log lists the tail_A / tail_B keys as missing (expected).
_base_ = '../../baselines/imagenet_lt/vit-base-p16_mae-ft_la-ce.py'

model = dict(
    type='MOREClassifier',
    rank=16,
    target_modules=[
        r'backbone\.layers\.\d+\.attn\.qkv',
        r'backbone\.layers\.\d+\.attn\.proj',
        r'backbone\.layers\.\d+\.ffn\.layers\.(0\.0|1)',
    ],
    rebalancing_loss=dict(type='MORERebalancingLoss', distance='l2'),
    detach_general=False,
    share_randomness=True)
custom_hooks = [
    dict(type='ClassCountsHook'),
    dict(type='MOREScheduleHook', amplitude=2.0, by_epoch=False),
]
