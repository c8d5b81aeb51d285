# MMPretrain's own ResNet-18 CIFAR-10 config with the plug-in mixed in:
# CIFAR-10 made long-tailed, the logit-adjusted BCE head, the Many/Medium/Few
# metric and the hook that gives both the training class counts.
_base_ = 'mmpretrain::resnet/resnet18_8xb16_cifar10.py'

custom_imports = dict(imports=['mmpretrain_osdtw'], allow_failed_imports=False)

# Class i keeps int(5000 * (1 / imb_ratio) ** (i / 9)) of its 5,000 images:
# 12,406 in all for imb_ratio=100 (imb_type='step': half the classes keep
# 5,000, the others 50).
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='LongTailedDataset',
        imb_ratio=100,
        dataset=dict(
            type='CIFAR10',
            data_root='data/cifar10',
            split='train',
            pipeline={{_base_.train_pipeline}})))
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
