# OSDTW stage 3, the assembled model for evaluation: the stage-2 config of
# the benchmark (see osdtw_stage2_joint.py).
_base_ = './_bench.py'

model = dict(type='DualDecoderClassifier', shared_depth=6, head_weight=0.5)
