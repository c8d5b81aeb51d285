# Bal-BCE from scratch: the recipe of vit-d96-p8_bal-bce.py without the MGP
# initialisation (the ViT's own init), same epochs: what MGP adds.
_base_ = [
    '../../_base_/models/vit-d96-p8_mae-ft_32px.py',
    '../../_base_/datasets/cifar10_lt_jpeg_in_memory.py',
    '../../_base_/schedules/adamw_mae-ft_small-vit.py',
    '../../_base_/lt_runtime.py',
    './_bench.py',
]

model = dict(
    head=dict(
        type='LogitAdjustedBCEHead',
        num_classes=10,
        loss=dict(_delete_=True, type='LogitAdjustedBCELoss', tau=1.0)))
train_dataloader = {{_base_.bench_train_dataloader}}
val_dataloader = {{_base_.bench_val_dataloader}}
test_dataloader = {{_base_.bench_test_dataloader}}
val_evaluator = dict(nll='sigmoid', with_per_class=False)
test_evaluator = dict(
    type='ShotGroupMetric', many_thr=1500, few_thr=200, nll='sigmoid')
train_cfg = {{_base_.bench_train_cfg}}
