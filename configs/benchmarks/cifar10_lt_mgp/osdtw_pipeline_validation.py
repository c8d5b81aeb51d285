# The benchmark pipeline with (C, w_A) chosen on the validation split
# (train_cfg.choose='validation'; docs/en/user_guides/pipeline.md, "Choosing
# on a validation split"): _heldout.py's split, never the test set; the
# assembled models of 4 depths x 3 head weights scored by top-1. The driver
# (tools/benchmark/converged, job osdtw_validation) starts it in a copy of
# the default pipeline's stage-1 and Fisher steps, which the step ledger
# reuses, and gives the split the setting's imbalance ratio with
#   --cfg-options train_cfg.validation.dataset.imb_ratio=<R>
_base_ = ['./osdtw_pipeline.py', './_heldout.py']

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
        dataset={{_base_.heldout_split}}))
