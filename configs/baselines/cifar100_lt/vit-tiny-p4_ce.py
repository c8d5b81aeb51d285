# Plain cross-entropy baseline: a small ViT trained from scratch on
# CIFAR-100-LT (imbalance ratio 100).
_base_ = [
    '../../_base_/models/vit-tiny-p4_32px.py',
    '../../_base_/datasets/cifar100_lt.py',
    '../../_base_/schedules/adamw_cos_small-vit.py',
    '../../_base_/lt_runtime.py',
]

model = dict(
    head=dict(
        num_classes=100,
        loss=dict(_delete_=True, type='CrossEntropyLoss', loss_weight=1.0)))
train_cfg = dict(max_epochs=200, val_interval=10)
