# Logit-adjusted softmax cross-entropy (Menon et al., 2021) on CIFAR-10-LT.
_base_ = [
    '../../_base_/models/vit-tiny-p4_32px.py',
    '../../_base_/datasets/cifar10_lt.py',
    '../../_base_/schedules/adamw_cos_small-vit.py',
    '../../_base_/lt_runtime.py',
]

model = dict(
    head=dict(
        type='LogitAdjustedCEHead',
        num_classes=10,
        loss=dict(_delete_=True, type='LogitAdjustedCELoss', tau=1.0)))
train_cfg = dict(max_epochs=30, val_interval=10)
