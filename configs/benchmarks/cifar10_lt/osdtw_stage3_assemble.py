# Benchmark size of configs/osdtw/cifar10_lt/stage3_assemble.py.
_base_ = './osdtw_stage2_joint.py'
