# ImageNet-LT (official OLTR lists; 115,846 training images, 1,000 classes).
# Layout: data/imagenet/{train,val}/ + data/imagenet/ImageNet_LT_{train,val,
# test}.txt (see mmpretrain_osdtw/datasets/lt_benchmarks.py). Pipelines are
# MMPretrain's MAE fine-tuning ones (224 px, RandAug m9 mstd0.5, erasing 0.25).
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py'

data_root = 'data/imagenet'
data_preprocessor = dict(num_classes=1000)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=[103.53, 116.28, 123.675],
        fill_std=[57.375, 57.12, 58.395]),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=256,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    dataset=dict(
        _delete_=True,
        type='ImageNetLT',
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=8,
    dataset=dict(
        _delete_=True,
        type='ImageNetLT',
        data_root=data_root,
        split='test',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True, type='ShotGroupMetric', many_thr=100, few_thr=20)
test_evaluator = val_evaluator
