# OSDTW stage 2 on the benchmark recipe (_bench.py; as configs/osdtw/
# cifar10_lt/stage2_joint.py): one body, two task heads, w_A * L_head +
# (1 - w_A) * L_tail; shared_depth = 6 = L (the 'truncate' mode trains the
# fully shared body). The pipeline (and the driver's w_A sweep) set
# head_weight.
_base_ = './_bench.py'

model = dict(type='DualDecoderClassifier', shared_depth=6, head_weight=0.5)
