# Benchmark size of configs/osdtw/cifar10_lt/stage3_refine.py: the
# decoders and heads only (encoder frozen), bench_refine_epochs epochs
# (a third of bench_epochs). It starts from trained weights, so the
# schedule is a cosine decay without the warm-up epoch (which would need
# at least two epochs).
_base_ = './osdtw_stage3_assemble.py'

model = dict(freeze_encoder=True)
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=0,
        eta_min=1e-5,
        convert_to_iter_based=True),
]
train_cfg = dict(
    max_epochs={{_base_.bench_refine_epochs}},
    val_interval={{_base_.bench_refine_epochs}})
