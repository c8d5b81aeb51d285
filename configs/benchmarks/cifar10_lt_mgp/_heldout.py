# The converged benchmark's validation set (docs/benchmarks/converged.md):
# LongTailedDataset(split='heldout'), 100 of the training images the
# long-tailed subsampling left out, per class, from the same per-class
# shuffles (at IR 100 class 0 keeps all of its images and is absent). Not a
# config: the driver evaluates a checkpoint on it with a config written
# beside the run (Protocol.heldout_config in tools/benchmark/converged/
# jobs.py; --cfg-options cannot give a dataset, the command line has no dict
# syntax) that puts it in place of a benchmark config's test set,
#   _base_ = [CONFIG, '_heldout.py']
#   test_dataloader = dict(dataset={{_base_.heldout_dataset}})
# and with the setting's --cfg-options test_dataloader.dataset.imb_ratio=...
# (and .class_order=...). `heldout_split` is the same dataset as a new value
# (e.g. train_cfg.validation.dataset of osdtw_pipeline_validation.py).
heldout_split = dict(
    type='LongTailedDataset',
    imb_ratio=100,
    class_order=None,
    split='heldout',
    heldout_per_class=100,
    dataset=dict(
        type='InMemoryImages',
        cache_file='data/cifar10/train_decoded.npz',
        dataset=dict(
            type='CustomDataset',
            data_root='data/cifar10',
            data_prefix='train',
            metainfo=dict(
                classes=('airplane', 'automobile', 'bird', 'cat', 'deer',
                         'dog', 'frog', 'horse', 'ship', 'truck')),
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='PackInputs')
            ])))
# In place of a config's dataset (replacing it whole).
heldout_dataset = dict(heldout_split, _delete_=True)
