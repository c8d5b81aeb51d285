# CIFAR-10-LT (imbalance ratio 100, 12,406 training images) from the CIFAR-10
# JPEG folders (data/cifar10/{train,test}/<class>/*.jpg, e.g. unpacked from
# cifar10_jpeg.tar.gz), decoded ONCE into memory: InMemoryImages runs each
# dataset's LoadImageFromFile step at build time (50,000 + 10,000 images,
# a few seconds) and serves the decoded images to the rest of the pipeline
# every epoch; the decoded arrays are kept in data/cifar10/*_decoded.npz
# (written once, atomically; reused only while every image's name, size and
# time still match, so later builds read them in a fraction of a second).
# Same images, labels, subset and pipelines as
# cifar10_lt_jpeg.py (tested pixel for pixel), for MGP and fine-tuning alike.
#
# A config that inherits this file sets its own per-sample pipeline on the
# CustomDataset inside (the loading step stays first), e.g.
#   train_dataloader = dict(dataset=dict(dataset=dict(dataset=dict(
#       pipeline=[dict(type='LoadImageFromFile'), ...,
#                 dict(type='PackInputs')]))))
# (LongTailedDataset -> InMemoryImages -> CustomDataset).
#
# Channel order: LoadImageFromFile decodes to BGR (as for every image-file
# dataset in MMPretrain), so the data preprocessor converts to RGB for its
# RGB mean/std (the CIFAR pickles of cifar10_lt.py are RGB already), and
# per-channel constants in the pipeline (pad_val, fill_color) are BGR.
_base_ = './cifar10_lt.py'

_classes = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog',
            'horse', 'ship', 'truck')
data_preprocessor = dict(to_rgb=True)
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
            type='InMemoryImages',
            cache_file='data/cifar10/train_decoded.npz',
            dataset=dict(
                type='CustomDataset',
                data_root='data/cifar10',
                data_prefix='train',
                metainfo=dict(classes=_classes),
                pipeline=train_pipeline))))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='InMemoryImages',
        cache_file='data/cifar10/test_decoded.npz',
        dataset=dict(
            type='CustomDataset',
            data_root='data/cifar10',
            data_prefix='test',
            metainfo=dict(classes=_classes),
            pipeline=test_pipeline)))
test_dataloader = val_dataloader
