# Bal-BCE (LiVT's logit-adjusted BCE) fine-tuned from the MGP checkpoint on
# CIFAR-10-LT: the recipe pieces and the benchmark settings side by side.
#   OSDTW_BENCH_MGP_CKPT=work_dirs/converged/ir100/mgp/epoch_200.pth \
#   python tools/train.py configs/benchmarks/cifar10_lt_mgp/vit-d96-p8_bal-bce.py
_base_ = [
    '../../_base_/models/vit-d96-p8_mae-ft_32px.py',
    '../../_base_/datasets/cifar10_lt_jpeg_in_memory.py',
    '../../_base_/schedules/adamw_mae-ft_small-vit.py',
    '../../_base_/lt_runtime.py',
    './_bench.py',
]

model = dict(
    backbone=dict(init_cfg={{_base_.bench_mgp_init}}),
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
