# CIFAR-10-LT (imbalance ratio 100, 12,406 training images) over MMPretrain's
# own CIFAR10 loader (the python pickle batches in data/cifar10/
# cifar-10-batches-py). The test split stays balanced (10,000 images).
_base_ = 'mmpretrain::_base_/datasets/cifar10_bs16.py'

train_dataloader = dict(
    batch_size=128,
    num_workers=2,
    dataset=dict(
        _delete_=True,
        type='LongTailedDataset',
        imb_ratio=100,
        dataset=dict(
            type='CIFAR10',
            data_root='data/cifar10',
            split='train',
            pipeline={{_base_.train_pipeline}})),
)
val_dataloader = dict(batch_size=256, num_workers=2)
test_dataloader = val_dataloader
# Many/Medium/Few for CIFAR-10-LT: the ImageNet-LT thresholds (100/20) leave
# no Few class here, so the groups are Many > 1500 (3 classes), Medium
# 200..1500 (4), Few < 200 (3) at imbalance ratio 100.
val_evaluator = dict(
    _delete_=True, type='ShotGroupMetric', many_thr=1500, few_thr=200)
test_evaluator = val_evaluator
