# MMPretrain's own ResNet-18 CIFAR-10 config with the plug-in mixed in:
# CIFAR-10 made long-tailed, the logit-adjusted BCE head, the Many/Medium/Few
# metric and the hook that gives both the training class counts. The images
# are the CIFAR-10 JPEG folders data/cifar10/{train,test}/<class>/*.jpg
# (unpacked from the project's cifar10_jpeg.tar.gz), read by MMPretrain's
# CustomDataset: nothing is downloaded.
_base_ = 'mmpretrain::resnet/resnet18_8xb16_cifar10.py'

custom_imports = dict(imports=['mmpretrain_osdtw'], allow_failed_imports=False)

# The folder names, in CIFAR-10's label order.
_classes = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog',
            'horse', 'ship', 'truck')
# The base config's pipelines, loading each image from its file first. The
# files load as BGR (MMPretrain's CIFAR10 arrays are RGB): to_rgb swaps them
# before the base's RGB mean and std.
data_preprocessor = dict(to_rgb=True)
_load = dict(type='LoadImageFromFile')
_train_pipeline = [
    _load,
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
_test_pipeline = [_load, dict(type='PackInputs')]

# Class i keeps int(5000 * (1 / imb_ratio) ** (i / 9)) of its 5,000 images:
# 12,406 in all for imb_ratio=100 (imb_type='step': half the classes keep
# 5,000, the others 50).
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='LongTailedDataset',
        imb_ratio=100,
        dataset=dict(
            type='CustomDataset',
            data_root='data/cifar10',
            data_prefix='train',
            metainfo=dict(classes=_classes),
            pipeline=_train_pipeline)))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root='data/cifar10',
        data_prefix='test',
        metainfo=dict(classes=_classes),
        pipeline=_test_pipeline))
test_dataloader = val_dataloader
model = dict(
    head=dict(
        _delete_=True,
        type='LogitAdjustedBCEHead',
        num_classes=10,  # K
        in_channels=512,  # the feature size of the neck
        loss=dict(type='LogitAdjustedBCELoss', tau=1.0)))
# Many > 1500, Medium 200..1500, Few < 200 training images: 3/4/3 classes.
val_evaluator = dict(
    _delete_=True, type='ShotGroupMetric', many_thr=1500, few_thr=200)
test_evaluator = val_evaluator
custom_hooks = [dict(type='ClassCountsHook')]
