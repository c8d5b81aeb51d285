# The whole OSDTW pipeline on CIFAR-10-LT (imbalance ratio 100), resumable:
#   python tools/train.py configs/osdtw/cifar10_lt/pipeline.py
# Steps and artifacts: see mmpretrain_osdtw/engine/runner/stage_runner.py;
# the stage configs are the ones next to this file.
_base_ = '../../_base_/osdtw_pipeline.py'

train_cfg = dict(fisher=dict(chunk_size=64))
