# MGP (LiVT's masked generative pretraining) on CIFAR-10-LT: MMPretrain's MAE
# (mask ratio 0.75, normalised-pixel L2 loss) on the long-tailed training
# images only (imbalance ratio 100, 12,406 images; labels unused), with the
# CPU-size ViT of the CIFAR-LT fine-tuning configs. A CPU miniature: LiVT
# fine-tunes CIFAR-LT from its ImageNet-LT MGP checkpoint; no published
# recipe runs MGP on CIFAR-LT itself.
#   python tools/train.py \
#       configs/mgp/cifar10_lt/mae_vit-mini-p8_1xb256-coslr-200e.py
#   torchrun --nproc_per_node 2 tools/train.py CONFIG --launcher pytorch
# Epochs: --cfg-options train_cfg.max_epochs=E (see the schedule base for the
# warm-up). Fine-tune from its checkpoint: README, "Fine-tuning from an MGP
# checkpoint".
_base_ = [
    '../../_base_/models/mae_vit-mini-p8_32px.py',
    # The training set (switch here): CIFAR-10-LT from the JPEG folders,
    # decoded once and held in memory.
    '../../_base_/datasets/cifar10_lt_jpeg_in_memory.py',
    '../../_base_/schedules/mae_adamw-coslr-200e_1xb256.py',
    '../../_base_/mgp_runtime.py',
]

# The dataset config's normalisation (the fine-tuning configs see the same
# inputs), in MAE's preprocessor.
data_preprocessor = dict(
    _delete_=True,
    type='SelfSupDataPreprocessor',
    mean={{_base_.data_preprocessor.mean}},
    std={{_base_.data_preprocessor.std}},
    to_rgb={{_base_.data_preprocessor.to_rgb}})
# MAE's augmentation at 32 px: a random resized crop of 35-100 % of the area
# (MAE's 20 % would blow a 14x14 patch of a 32 px image up 2.3x; at 35 % the
# smallest crop is 19 px) and a horizontal flip. The first step reads the
# JPEG files (InMemoryImages runs it once per image, at build time): drop it
# for a dataset that holds decoded arrays.
mgp_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=32,
        crop_ratio_range=(0.35, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
# LongTailedDataset -> InMemoryImages -> CustomDataset.
train_dataloader = dict(
    batch_size=256,
    dataset=dict(dataset=dict(dataset=dict(pipeline=mgp_train_pipeline))))
# Pretraining only: no validation or test.
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
default_hooks = dict(logger=dict(interval=10))
