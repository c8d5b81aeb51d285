# Settings shared by the converged CIFAR-10-LT benchmark
# (python -m tools.benchmark.converged, docs/benchmarks/converged.md). Not a
# runnable config: every benchmark config next to this file inherits the
# project's recipe pieces (or a benchmark config built from them) plus this
# file side by side, and applies these values:
# - the fine-tuning recipe of configs/_base_/models/vit-d96-p8_mae-ft_32px.py
#   and configs/_base_/schedules/adamw_mae-ft_small-vit.py, with LiVT's
#   per-sample augmentation (RandomCrop(pad 4), flip, RandAugment m9 mstd
#   0.5, RandomErasing 0.25; pad/fill values in BGR: LoadImageFromFile
#   decodes BGR, the preprocessor converts to RGB), batch 128; the Fast*
#   transforms are MMPretrain's with their per-call overhead removed, tested
#   to give identical outputs for the same random state
#   (mmpretrain_osdtw/datasets/transforms/);
# - the backbone starts from ONE MGP checkpoint (bench_mgp_init, a single
#   Pretrained dict: a list-valued init_cfg re-draws the position embedding
#   after loading), from $OSDTW_BENCH_MGP_CKPT;
# - CIFAR-10-LT from the JPEG folders, decoded once in memory, imbalance
#   ratio $OSDTW_BENCH_IMB_RATIO (100) and class order
#   $OSDTW_BENCH_CLASS_ORDER (label order), for every run and every
#   pipeline stage (the driver sets them in the environment);
# - $OSDTW_BENCH_EPOCHS (20) epochs per training run, refinement
#   $OSDTW_BENCH_REFINE_EPOCHS (6); the val set is the balanced test set,
#   evaluated every epoch as a MONITOR (never used for a choice);
# - the test loader: the test set, or with OSDTW_BENCH_EVAL_SPLIT=heldout
#   the validation set (100 of the training images the subsampling left out
#   per class; at IR 100 class 0 keeps all of its images and is absent).
# Unique names, so that they do not clash with the other bases' keys.
_bench_classes = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog',
                  'frog', 'horse', 'ship', 'truck')
bench_epochs = {{'$OSDTW_BENCH_EPOCHS:20'}}
bench_refine_epochs = {{'$OSDTW_BENCH_REFINE_EPOCHS:6'}}
bench_imb_ratio = {{'$OSDTW_BENCH_IMB_RATIO:100'}}
bench_class_order = {{'$OSDTW_BENCH_CLASS_ORDER:None'}}
bench_eval_split = '{{$OSDTW_BENCH_EVAL_SPLIT:test}}'
bench_heldout_per_class = 100
bench_mgp_init = dict(
    _delete_=True,
    type='Pretrained',
    checkpoint='{{$OSDTW_BENCH_MGP_CKPT:work_dirs/converged/ir100/mgp/epoch_200.pth}}',  # noqa: E501
    prefix='backbone.')
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
# LongTailedDataset -> InMemoryImages -> CustomDataset (the dataset base).
bench_train_dataloader = dict(
    batch_size=128,
    num_workers=0,
    dataset=dict(
        imb_ratio=bench_imb_ratio,
        class_order=bench_class_order,
        dataset=dict(dataset=dict(pipeline=bench_train_pipeline))))
bench_val_dataloader = dict(batch_size=256, num_workers=0)
_heldout_dataset = dict(
    _delete_=True,
    type='LongTailedDataset',
    imb_ratio=bench_imb_ratio,
    class_order=bench_class_order,
    split='heldout',
    heldout_per_class=bench_heldout_per_class,
    dataset=dict(
        type='InMemoryImages',
        cache_file='data/cifar10/train_decoded.npz',
        dataset=dict(
            type='CustomDataset',
            data_root='data/cifar10',
            data_prefix='train',
            metainfo=dict(classes=_bench_classes),
            pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='PackInputs')])))
bench_test_dataloader = dict(
    batch_size=256, num_workers=0, dataset=_heldout_dataset) \
    if bench_eval_split == 'heldout' else dict(batch_size=256, num_workers=0)
bench_train_cfg = dict(max_epochs=bench_epochs, val_interval=1)
