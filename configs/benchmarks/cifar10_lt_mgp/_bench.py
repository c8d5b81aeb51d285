# The recipe of the converged CIFAR-10-LT benchmark
# (python -m tools.benchmark.converged, docs/benchmarks/converged.md), the
# base of every config next to this file: Bal-BCE (LiVT's logit-adjusted
# BCE) fine-tuned from the MGP checkpoint.
# - the fine-tuning recipe of configs/_base_/models/vit-d96-p8_mae-ft_32px.py
#   and configs/_base_/schedules/adamw_mae-ft_small-vit.py, with LiVT's
#   per-sample augmentation (RandomCrop(pad 4), flip, RandAugment m9 mstd
#   0.5, RandomErasing 0.25; pad/fill values in BGR: LoadImageFromFile
#   decodes BGR, the preprocessor converts to RGB), batch 128; the Fast*
#   transforms are MMPretrain's with their per-call overhead removed, tested
#   to give identical outputs for the same random state
#   (mmpretrain_osdtw/datasets/transforms/);
# - the backbone starts from ONE MGP checkpoint (a single Pretrained dict: a
#   list-valued init_cfg re-draws the position embedding after loading);
# - CIFAR-10-LT from the JPEG folders, decoded once in memory, imbalance
#   ratio 100 in label order;
# - 20 epochs per training run; the val set is the balanced test set,
#   evaluated every epoch as a MONITOR (never used for a choice); the test
#   set is the test set (_heldout.py holds the validation set).
# The driver gives every command its setting with --cfg-options (see
# Settings.cfg_options in tools/benchmark/converged/jobs.py), e.g.
#   python tools/train.py configs/benchmarks/cifar10_lt_mgp/vit-d96-p8_ce.py \
#     --cfg-options model.backbone.init_cfg.checkpoint=<MGP checkpoint> \
#     train_cfg.max_epochs=20 train_dataloader.dataset.imb_ratio=50 \
#     train_dataloader.dataset.class_order=[9,8,7,6,5,4,3,2,1,0]
# (stage 1: train_dataloader.dataset.dataset.*, as HeadTailSplit wraps the
# long-tailed set).
_base_ = [
    '../../_base_/models/vit-d96-p8_mae-ft_32px.py',
    '../../_base_/datasets/cifar10_lt_jpeg_in_memory.py',
    '../../_base_/schedules/adamw_mae-ft_small-vit.py',
    '../../_base_/lt_runtime.py',
]

bench_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='FastRandomCrop', crop_size=32, padding=4),
    dict(type='FastRandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='FastRandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val=[114, 123, 125])),
    dict(
        type='FastRandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=[103.53, 116.28, 123.675],
        fill_std=[57.375, 57.12, 58.395]),
    dict(type='PackInputs'),
]
model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint='work_dirs/converged/ir100/mgp/epoch_200.pth',
            prefix='backbone.')),
    head=dict(
        type='LogitAdjustedBCEHead',
        num_classes=10,
        loss=dict(_delete_=True, type='LogitAdjustedBCELoss', tau=1.0)))
# LongTailedDataset -> InMemoryImages -> CustomDataset (the dataset base).
train_dataloader = dict(
    batch_size=128,
    num_workers=0,
    dataset=dict(
        imb_ratio=100,
        class_order=None,
        dataset=dict(dataset=dict(pipeline=bench_train_pipeline))))
val_dataloader = dict(batch_size=256, num_workers=0)
test_dataloader = val_dataloader
val_evaluator = dict(nll='sigmoid', with_per_class=False)
test_evaluator = dict(
    type='ShotGroupMetric', many_thr=1500, few_thr=200, nll='sigmoid')
train_cfg = dict(max_epochs=20, val_interval=1)
