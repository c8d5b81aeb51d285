# MGP (LiVT's masked generative pretraining) on Places-LT: MMPretrain's MAE
# ViT-B/16 at 224 px on the long-tailed training images only (the official
# Places_LT_train.txt list, 62,500 images; labels unused), with LiVT's
# recipe: mask ratio 0.75, normalised-pixel L2 loss, 800 epochs, base lr
# 1.5e-4 per 256 images at a total batch of 4096, AdamW(0.9, 0.95), weight
# decay 0.05, 40 warm-up epochs then cosine.
#   torchrun --nproc_per_node 8 tools/train.py CONFIG --launcher pytorch --amp
# (another total batch: add --auto-scale-lr). Fine-tune from its checkpoint:
# README, "Fine-tuning from an MGP checkpoint".
_base_ = [
    '../../_base_/models/mae_vit-base-p16_224px.py',
    # The training set (switch here): Places-LT, official lists.
    '../../_base_/datasets/places_lt.py',
    '../../_base_/schedules/mae_adamw-coslr-800e_8xb512.py',
    '../../_base_/mgp_runtime.py',
]

# The dataset config's normalisation, in MAE's preprocessor.
data_preprocessor = dict(
    _delete_=True,
    type='SelfSupDataPreprocessor',
    mean={{_base_.data_preprocessor.mean}},
    std={{_base_.data_preprocessor.std}},
    to_rgb={{_base_.data_preprocessor.to_rgb}})
# MAE's augmentation (MMPretrain's MAE config): a random resized crop of
# 20-100 % of the area to 224 px and a horizontal flip.
mgp_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=512, num_workers=8, dataset=dict(pipeline=mgp_train_pipeline))
# Pretraining only: no validation or test.
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
