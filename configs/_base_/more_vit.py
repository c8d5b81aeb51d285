# MORE (model rebalancing) settings shared by configs/more/: every linear
# layer of the ViT blocks (qkv, attention projection, both MLP layers) gets a
# low-rank tail W = W_g + B A (B = 0 at start); the loss is the baseline's on
# the full model + alpha(t) * L_MORE (squared L2 between the full and the
# general-only logits, weighted by the class prior of the label), with
# alpha(t) = A' K sin(pi t / T) per iteration, A' = 2. After training,
# <work_dir>/merged.pth is the plain model (test it with the baseline config).
# A MORE config uses them as
#   model = dict(type='MOREClassifier', rank=R,
#                target_modules={{_base_.more_vit_targets}},
#                rebalancing_loss={{_base_.more_rebalancing_loss}})
#   custom_hooks = {{_base_.more_hooks}}
more_vit_targets = [
    r'backbone\.layers\.\d+\.attn\.qkv',
    r'backbone\.layers\.\d+\.attn\.proj',
    r'backbone\.layers\.\d+\.ffn\.layers\.(0\.0|1)',
]
more_rebalancing_loss = dict(type='MORERebalancingLoss', distance='l2')
more_hooks = [
    dict(type='ClassCountsHook'),
    dict(type='MOREScheduleHook', amplitude=2.0, by_epoch=False),
]
