# OSDTW stage 1 on Places-LT, head task: the paper's recipe (MAE-pretrained
# ViT-B/16, AdamW(0.9, 0.99), lr 1e-3 at batch 1024, drop path 0.1,
# RandAug(9, 0.5), Mixup 0.8, CutMix 1.0, label smoothing 0.1, 100 epochs) on
# the head half of the classes, then the task's Fisher statistics.
# Pretrained weights: --cfg-options model.backbone.init_cfg.checkpoint=<...>
_base_ = '../../baselines/places_lt/vit-base-p16_mae-ft_bal-bce.py'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='HeadTailSplit',
        task='head',
        dataset={{_base_.train_dataloader.dataset}}))
# Smoothing over all K classes: a task's target is the slice of the smoothed
# K-class target.
model = dict(
    head=dict(task='head', loss=dict(smooth_num_classes=365)))
train_cfg = dict(max_epochs=100)
custom_hooks = [
    dict(type='ClassCountsHook'),
    # ViT-B per-sample gradients: chunk_size * (2 + draws) * 86M floats.
    dict(type='FisherHook', out_file='fisher_head.pth', chunk_size=8),
]
