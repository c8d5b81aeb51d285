# The OSDTW pipeline on CIFAR-10-LT (imbalance ratio 100) with (C, w_A)
# chosen on a held-out validation split instead of by the proxy, resumable:
#   python tools/train.py configs/osdtw/cifar10_lt/pipeline_validation.py
# The split: 100 per class of the training images the long-tailed
# subsampling left out (the same LongTailedDataset as the training split;
# at IR 100 class 0 keeps all of its 5,000 images and gives none; the
# converged benchmark's split, configs/benchmarks/cifar10_lt_mgp/
# _heldout.py), never the test split. Cost: one stage-2 training per weight
# (3 instead of 1) plus one assembly and validation pass per (C, w_A) cell;
# see docs/en/user_guides/pipeline.md ("Choosing on a validation split").
_base_ = './pipeline.py'

train_cfg = dict(
    choose='validation',
    # the proxy runs only as a diagnostic here: the derivation's noise
    # scale, no second-seed trainings
    noise_scale='asymptotic',
    search=dict(mismatch='debiased-positive'),
    validation=dict(
        depths=[0, 2, 4, 6],
        weights=[0.3, 0.5, 0.7],
        metric='top1',
        dataset=dict(
            type='LongTailedDataset',
            imb_ratio=100,
            split='heldout',
            heldout_per_class=100,
            dataset=dict(
                type='CIFAR10',
                data_root='data/cifar10',
                split='train',
                pipeline=[dict(type='PackInputs')]))))
