# Benchmark size of configs/osdtw/cifar10_lt/pipeline.py: the same
# StageRunner settings over the benchmark stage configs next to this file.
#   python tools/train.py configs/benchmarks/cifar10_lt/osdtw_pipeline.py
_base_ = ['../../osdtw/cifar10_lt/pipeline.py', './_bench.py']

model = {{_base_.bench_model}}
train_dataloader = dict(
    num_workers={{_base_.bench_workers}},
    dataset=dict(dataset={{_base_.bench_train_dataset}}))
train_cfg = dict(
    stage1_head='osdtw_stage1_head.py',
    stage1_tail='osdtw_stage1_tail.py',
    stage2='osdtw_stage2_joint.py',
    assemble='osdtw_stage3_assemble.py',
    refine='osdtw_stage3_refine.py')
