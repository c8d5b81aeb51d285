# Digits-LT: scikit-learn's bundled handwritten digits (1,797 real 8x8 scans,
# no download) with a fixed per-class train/test split; the training split is
# made long-tailed with the CIFAR-LT exponential profile (imbalance ratio 10).
# The built-in default dataset of the project.
dataset_type = 'SklearnDigits'
num_classes = 10
data_preprocessor = dict(
    num_classes=num_classes,
    mean=[76.0, 76.0, 76.0],
    std=[96.0, 96.0, 96.0],
    to_rgb=False)

train_pipeline = [
    dict(type='RandomCrop', crop_size=8, padding=1),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    dataset=dict(
        type='LongTailedDataset',
        imb_ratio=10,
        dataset=dict(
            type=dataset_type, split='train', pipeline=train_pipeline)),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=256,
    num_workers=0,
    dataset=dict(type=dataset_type, split='test', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
# Training counts run from 104 down to 10 images per class: the shot groups
# use thresholds scaled to that range (Many > 50, Few < 20).
val_evaluator = dict(type='ShotGroupMetric', many_thr=50, few_thr=20)
test_dataloader = val_dataloader
test_evaluator = val_evaluator
