# Benchmark size of configs/osdtw/cifar10_lt/stage3_refine.py: the
# decoders and heads only (encoder frozen), bench_refine_epochs epochs
# (a third of bench_epochs). It starts from trained weights, so the
# schedule is a cosine decay without the warm-up epoch (which would need
# at least two epochs).
# The project's stage-2 config (stage3_refine.py is stage2_joint.py with a
# frozen encoder) and the benchmark settings side by side.
_base_ = ['../../osdtw/cifar10_lt/stage2_joint.py', './_bench.py']

model = dict(
    shared_depth={{_base_.bench_dual_model.shared_depth}},
    backbone={{_base_.bench_dual_model.backbone}},
    head={{_base_.bench_dual_model.head}},
    freeze_encoder=True)
train_dataloader = {{_base_.bench_train_dataloader}}
val_dataloader = {{_base_.bench_val_dataloader}}
test_dataloader = {{_base_.bench_test_dataloader}}
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
