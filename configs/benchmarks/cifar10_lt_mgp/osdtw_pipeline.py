# The whole OSDTW pipeline on the benchmark recipe (stage configs next to
# this file, each starting from the MGP checkpoint): proxy search with the
# debiased-positive mismatch, the Fisher statistics on a random 4,096 of the
# training images.
#   OSDTW_BENCH_MGP_CKPT=work_dirs/converged/ir100/mgp/epoch_200.pth \
#   python tools/train.py configs/benchmarks/cifar10_lt_mgp/osdtw_pipeline.py
_base_ = '../../osdtw/cifar10_lt/pipeline.py'

train_cfg = dict(
    stage1_head='osdtw_stage1_head.py',
    stage1_tail='osdtw_stage1_tail.py',
    stage2='osdtw_stage2_joint.py',
    assemble='osdtw_stage3_assemble.py',
    refine='osdtw_stage3_refine.py',
    fisher=dict(max_samples=4096))
