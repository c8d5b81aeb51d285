# Benchmark size of configs/baselines/cifar10_lt/vit-tiny-p4_bal-bce.py
# (see _bench.py).
_base_ = ['../../baselines/cifar10_lt/vit-tiny-p4_bal-bce.py', './_bench.py']

model = {{_base_.bench_model}}
train_dataloader = {{_base_.bench_train_dataloader}}
val_dataloader = {{_base_.bench_val_dataloader}}
test_dataloader = {{_base_.bench_test_dataloader}}
train_cfg = dict(
    max_epochs={{_base_.bench_epochs}}, val_interval={{_base_.bench_epochs}})
