# OSDTW stage 2 on CIFAR-100-LT: one body, two task heads (the pipeline sets
# shared_depth and head_weight).
_base_ = './_stage_base.py'

model = dict(type='DualDecoderClassifier', shared_depth=6, head_weight=0.5)
