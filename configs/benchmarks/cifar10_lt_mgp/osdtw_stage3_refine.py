# OSDTW stage-3 refinement on the benchmark recipe: the task decoders and
# heads only (encoder frozen), bench_refine_epochs epochs (6 = 30 / 100 of
# the 20 stage epochs). It starts from the assembled model (load_from), so
# the schedule is a cosine decay without the warm-up epoch.
_base_ = './vit-d96-p8_bal-bce.py'

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
train_cfg = dict(max_epochs={{_base_.bench_refine_epochs}})
