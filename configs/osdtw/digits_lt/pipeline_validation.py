# The OSDTW pipeline on Digits-LT with (C, w_A) chosen on a held-out
# validation split instead of by the proxy, resumable:
#   python tools/train.py configs/osdtw/digits_lt/pipeline_validation.py
# The split: up to 30 per class of the training images the long-tailed
# subsampling left out (the same LongTailedDataset as the training split, so
# the same per-class shuffles; class 0 keeps all of its 104 images and gives
# none), never the test split. Cost: one stage-2 training per weight (3
# instead of 1) plus one assembly and validation pass per (C, w_A) cell;
# see docs/en/user_guides/pipeline.md ("Choosing on a validation split").
_base_ = './pipeline.py'

train_cfg = dict(
    choose='validation',
    # the proxy runs only as a diagnostic here: the derivation's noise
    # scale, no second-seed trainings
    noise_scale='asymptotic',
    search=dict(mismatch='debiased-positive'),
    validation=dict(
        depths=[0, 1, 2, 3, 4],
        weights=[0.3, 0.5, 0.7],
        metric='top1',
        dataset=dict(
            type='LongTailedDataset',
            imb_ratio=10,
            split='heldout',
            heldout_per_class=30,
            dataset=dict(
                type='SklearnDigits',
                split='train',
                pipeline=[dict(type='PackInputs')]))))
