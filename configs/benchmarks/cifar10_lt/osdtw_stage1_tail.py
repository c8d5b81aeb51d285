# Benchmark size of configs/osdtw/cifar10_lt/stage1_tail.py (see _bench.py).
_base_ = ['../../osdtw/cifar10_lt/stage1_tail.py', './_bench.py']

model = {{_base_.bench_model}}
train_dataloader = dict(
    num_workers={{_base_.bench_workers}},
    dataset=dict(dataset={{_base_.bench_train_dataset}}))
val_dataloader = {{_base_.bench_val_dataloader}}
test_dataloader = {{_base_.bench_test_dataloader}}
train_cfg = dict(
    max_epochs={{_base_.bench_epochs}}, val_interval={{_base_.bench_epochs}})
