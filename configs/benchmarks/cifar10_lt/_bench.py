# Settings shared by the CIFAR-10-LT accuracy benchmark
# (tools/benchmark/cifar10_lt_accuracy.py). Not a runnable config: every
# benchmark config inherits one project config plus this file and applies
# these values, so that all methods get the same backbone, data, schedule
# and augmentation, sized for a 2-core CPU:
# - a 4-block ViT with 64 dims, 4 heads, MLP 128, patch 8 (16 tokens at
#   32 px; about 0.15M parameters) instead of the 6-block, 128-dim, patch-4
#   one (patch 8 trains about 3x faster per image on one CPU thread);
# - the CIFAR-10 JPEG folders (data/cifar10/{train,test}/<class>/*.jpg) made
#   long-tailed with imbalance ratio 100 (12,406 training images; another
#   ratio from the environment variable OSDTW_BENCH_IMB_RATIO, which the
#   benchmark driver's --imb-ratio sets for every run and every pipeline
#   stage), the balanced 10,000-image test split, RandomCrop(pad 4) + flip;
# - bench_epochs epochs per training run (stage-3 refinement:
#   bench_refine_epochs), validation only at the end; data loading in the
#   main process (the benchmark runs one process per core).
# The driver's --arch / --epochs / --workers set the OSDTW_BENCH_* variables
# below for a bigger run (a GPU); the defaults are the CPU run's values.
# Unique names, so that they do not clash with the other base's keys.
_classes = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog',
            'horse', 'ship', 'truck')
bench_epochs = {{'$OSDTW_BENCH_EPOCHS:3'}}
bench_refine_epochs = {{'$OSDTW_BENCH_REFINE_EPOCHS:1'}}
bench_workers = {{'$OSDTW_BENCH_WORKERS:0'}}
bench_num_layers = {{'$OSDTW_BENCH_LAYERS:4'}}
bench_model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims={{'$OSDTW_BENCH_DIMS:64'}},
            num_layers={{'$OSDTW_BENCH_LAYERS:4'}},
            num_heads={{'$OSDTW_BENCH_HEADS:4'}},
            feedforward_channels={{'$OSDTW_BENCH_FFN:128'}}),
        patch_size={{'$OSDTW_BENCH_PATCH:8'}}),
    head=dict(in_channels={{'$OSDTW_BENCH_DIMS:64'}}))
bench_dual_model = dict(
    shared_depth=bench_num_layers,
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims={{'$OSDTW_BENCH_DIMS:64'}},
            num_layers={{'$OSDTW_BENCH_LAYERS:4'}},
            num_heads={{'$OSDTW_BENCH_HEADS:4'}},
            feedforward_channels={{'$OSDTW_BENCH_FFN:128'}}),
        patch_size={{'$OSDTW_BENCH_PATCH:8'}}),
    head=dict(in_channels={{'$OSDTW_BENCH_DIMS:64'}}))
bench_train_dataset = dict(
    _delete_=True,
    type='LongTailedDataset',
    imb_ratio={{'$OSDTW_BENCH_IMB_RATIO:100'}},
    dataset=dict(
        type='CustomDataset',
        data_root='data/cifar10',
        data_prefix='train',
        metainfo=dict(classes=_classes),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='RandomCrop', crop_size=32, padding=4),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
            dict(type='PackInputs'),
        ]))
bench_val_dataset = dict(
    _delete_=True,
    type='CustomDataset',
    data_root='data/cifar10',
    data_prefix='test',
    metainfo=dict(classes=_classes),
    pipeline=[dict(type='LoadImageFromFile'),
              dict(type='PackInputs')])
# A separate copy: mmengine pops `_delete_` from a dict when it merges it.
bench_test_dataset = dict(bench_val_dataset)
# The loaders the benchmark configs take as they are (stage 1 wraps the
# training set in HeadTailSplit instead).
bench_train_dataloader = dict(
    num_workers=bench_workers, dataset=bench_train_dataset)
bench_val_dataloader = dict(
    num_workers=bench_workers, dataset=bench_val_dataset)
bench_test_dataloader = dict(
    num_workers=bench_workers, dataset=bench_test_dataset)
