# The recipe of every OSDTW stage on CIFAR-10-LT (stage1_*.py, stage2_joint.py,
# stage3_*.py): the small ViT, CIFAR-10-LT, the small-ViT AdamW schedule and
# the project's runtime side by side, with LiVT's Bal-BCE head. The Bal-BCE
# baseline (configs/baselines/cifar10_lt/vit-tiny-p4_bal-bce.py) trains the
# same recipe on all classes; the stages do not inherit it, so that an edit
# of the baseline leaves them as they are.
_base_ = [
    '../../_base_/models/vit-tiny-p4_32px.py',
    '../../_base_/datasets/cifar10_lt.py',
    '../../_base_/schedules/adamw_cos_small-vit.py',
    '../../_base_/lt_runtime.py',
]

model = dict(
    head=dict(
        type='LogitAdjustedBCEHead',
        num_classes=10,
        loss=dict(_delete_=True, type='LogitAdjustedBCELoss', tau=1.0)))
train_cfg = dict(max_epochs=30, val_interval=10)
