# Benchmark size of configs/osdtw/cifar10_lt/stage3_assemble.py, which is
# stage2_joint.py for evaluation: the project's stage-2 config and the
# benchmark settings side by side, as osdtw_stage2_joint.py.
_base_ = ['../../osdtw/cifar10_lt/stage2_joint.py', './_bench.py']

model = {{_base_.bench_dual_model}}
train_dataloader = {{_base_.bench_train_dataloader}}
val_dataloader = {{_base_.bench_val_dataloader}}
test_dataloader = {{_base_.bench_test_dataloader}}
train_cfg = dict(
    max_epochs={{_base_.bench_epochs}}, val_interval={{_base_.bench_epochs}})
