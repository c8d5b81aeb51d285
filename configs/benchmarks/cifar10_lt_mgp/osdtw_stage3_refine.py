# OSDTW stage-3 refinement on the benchmark recipe (_bench.py): the task
# decoders and heads only (encoder frozen), 6 epochs (30 / 100 of the 20
# stage epochs; the driver's --refine-epochs). It starts from the assembled
# model (load_from), so the schedule is a cosine decay without the warm-up
# epoch.
_base_ = './_bench.py'

model = dict(
    type='DualDecoderClassifier',
    shared_depth=6,
    head_weight=0.5,
    freeze_encoder=True)
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=0,
        eta_min=1e-6,
        convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=6)
