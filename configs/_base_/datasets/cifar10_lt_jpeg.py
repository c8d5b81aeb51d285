# CIFAR-10-LT from the CIFAR-10 JPEG folders (data/cifar10/{train,test}/
# <class>/*.jpg, e.g. unpacked from cifar10_jpeg.tar.gz) through MMPretrain's
# CustomDataset. Same protocol as cifar10_lt.py.
_base_ = './cifar10_lt.py'

_classes = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog',
            'horse', 'ship', 'truck')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    dataset=dict(
        dataset=dict(
            _delete_=True,
            type='CustomDataset',
            data_root='data/cifar10',
            data_prefix='train',
            metainfo=dict(classes=_classes),
            pipeline=train_pipeline)))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root='data/cifar10',
        data_prefix='test',
        metainfo=dict(classes=_classes),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
