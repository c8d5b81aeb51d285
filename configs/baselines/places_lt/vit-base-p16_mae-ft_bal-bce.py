# Bal-BCE (LiVT) fine-tuning of an MAE-pretrained ViT-B/16 on Places-LT.
_base_ = [
    '../../_base_/models/vit-base-p16_mae-ft.py',
    '../../_base_/datasets/places_lt.py',
    '../../_base_/schedules/adamw_mae-ft_lt.py',
    '../../_base_/lt_runtime.py',
]

model = dict(
    head=dict(
        type='LogitAdjustedBCEHead',
        num_classes=365,
        loss=dict(
            _delete_=True,
            type='LogitAdjustedBCELoss',
            tau=1.0,
            label_smooth_val=0.1)))
train_cfg = dict(max_epochs=30)
