# OSDTW stage 2 on ImageNet-LT: one ViT-B body, two task heads, loss
# w_A * L_head + (1 - w_A) * L_tail, 100 epochs of the same recipe. The
# pipeline sets shared_depth and head_weight (shared_depth = 12 in the paper's
# 'truncate' mode).
_base_ = './_stage_base.py'

model = dict(type='DualDecoderClassifier', shared_depth=12, head_weight=0.5)
