# Bal-BCE (the logit-adjusted BCE of LiVT) on CIFAR-100-LT.
_base_ = [
    '../../_base_/models/vit-tiny-p4_32px.py',
    '../../_base_/datasets/cifar100_lt.py',
    '../../_base_/schedules/adamw_cos_small-vit.py',
    '../../_base_/lt_runtime.py',
]

model = dict(
    head=dict(
        type='LogitAdjustedBCEHead',
        num_classes=100,
        loss=dict(_delete_=True, type='LogitAdjustedBCELoss', tau=1.0)))
train_cfg = dict(max_epochs=200, val_interval=10)
