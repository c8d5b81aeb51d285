# CIFAR-100-LT (imbalance ratio 100, 10,847 training images) over MMPretrain's
# CIFAR100 loader (data/cifar100/cifar-100-python). Balanced test split.
_base_ = 'mmpretrain::_base_/datasets/cifar100_bs16.py'

train_dataloader = dict(
    batch_size=128,
    num_workers=2,
    dataset=dict(
        _delete_=True,
        type='LongTailedDataset',
        imb_ratio=100,
        dataset=dict(
            type='CIFAR100',
            data_root='data/cifar100',
            split='train',
            pipeline={{_base_.train_pipeline}})),
)
val_dataloader = dict(batch_size=256, num_workers=2)
test_dataloader = val_dataloader
# The usual groups: Many > 100, Medium 20..100, Few < 20 training images.
val_evaluator = dict(
    _delete_=True, type='ShotGroupMetric', many_thr=100, few_thr=20)
test_evaluator = val_evaluator
