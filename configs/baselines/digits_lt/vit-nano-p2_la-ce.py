# Logit-adjusted softmax cross-entropy (Menon et al., 2021) on Digits-LT.
_base_ = [
    '../../_base_/models/vit-nano-p2_8px.py',
    '../../_base_/datasets/digits_lt.py',
    '../../_base_/schedules/adamw_cos_small-vit.py',
    '../../_base_/lt_runtime.py',
]

model = dict(
    head=dict(
        type='LogitAdjustedCEHead',
        num_classes=10,
        loss=dict(_delete_=True, type='LogitAdjustedCELoss', tau=1.0)))
train_cfg = dict(max_epochs=60, val_interval=20)
