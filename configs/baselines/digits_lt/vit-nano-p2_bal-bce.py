# Bal-BCE (the logit-adjusted BCE of LiVT) on Digits-LT.
_base_ = [
    '../../_base_/models/vit-nano-p2_8px.py',
    '../../_base_/datasets/digits_lt.py',
    '../../_base_/schedules/adamw_cos_small-vit.py',
    '../../_base_/lt_runtime.py',
]

model = dict(
    head=dict(
        type='LogitAdjustedBCEHead',
        num_classes=10,
        loss=dict(_delete_=True, type='LogitAdjustedBCELoss', tau=1.0)))
train_cfg = dict(max_epochs=60, val_interval=20)
