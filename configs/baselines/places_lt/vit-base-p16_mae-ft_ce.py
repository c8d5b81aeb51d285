# Cross-entropy (label smoothing 0.1, Mixup 0.8 / CutMix 1.0) fine-tuning of an
# MAE-pretrained ViT-B/16 on Places-LT: the "MAE" row of the LiVT/OSDTW tables.
# Give the pretrained weights with
#   --cfg-options model.backbone.init_cfg.checkpoint=<path or URL>
_base_ = [
    '../../_base_/models/vit-base-p16_mae-ft.py',
    '../../_base_/datasets/places_lt.py',
    '../../_base_/schedules/adamw_mae-ft_lt.py',
    '../../_base_/lt_runtime.py',
]

model = dict(
    head=dict(
        num_classes=365,
        loss=dict(
            _delete_=True,
            type='LabelSmoothLoss',
            label_smooth_val=0.1,
            mode='original')))
train_cfg = dict(max_epochs=30)
