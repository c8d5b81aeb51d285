# MORE (model rebalancing) on the Bal-BCE baseline, Digits-LT.
# Every linear layer of the ViT blocks (qkv, attention projection, MLP) gets
# a rank-4 tail: W = W_g + B A (B = 0 at start). The loss is the
# baseline's on the full model + alpha(t) * L_MORE, with
# alpha(t) = A' K sin(pi t / T) over the iterations. At the end,
# <work_dir>/merged.pth is the plain model; test it with the baseline config:
#   python tools/test.py \
#       configs/baselines/digits_lt/vit-nano-p2_bal-bce.py \
#       work_dirs/vit-nano-p2_more_bal-bce/merged.pth
_base_ = '../../baselines/digits_lt/vit-nano-p2_bal-bce.py'

model = dict(
    type='MOREClassifier',
    rank=4,
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
