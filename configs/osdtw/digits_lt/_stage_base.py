# The recipe of every OSDTW stage on Digits-LT (stage1_*.py, stage2_joint.py,
# stage3_*.py): the 8 px ViT, Digits-LT, the small-ViT AdamW schedule and
# the project's runtime side by side, with LiVT's Bal-BCE head. The Bal-BCE
# baseline (configs/baselines/digits_lt/vit-nano-p2_bal-bce.py) trains the
# same recipe on all classes; the stages do not inherit it, so that an edit
# of the baseline leaves them as they are.
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
