# OSDTW stage 1 on Places-LT, tail task: same recipe, the tail half.
_base_ = '../../baselines/places_lt/vit-base-p16_mae-ft_bal-bce.py'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='HeadTailSplit',
        task='tail',
        dataset={{_base_.train_dataloader.dataset}}))
# Smoothing over all K classes: a task's target is the slice of the smoothed
# K-class target.
model = dict(
    head=dict(task='tail', loss=dict(smooth_num_classes=365)))
train_cfg = dict(max_epochs=100)
custom_hooks = [
    dict(type='ClassCountsHook'),
    # ViT-B per-sample gradients: chunk_size * (2 + draws) * 86M floats.
    dict(type='FisherHook', out_file='fisher_tail.pth', chunk_size=8),
]
