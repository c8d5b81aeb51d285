# OSDTW stage 2: one body, two task heads, trained on
# w_A * L_head + (1 - w_A) * L_tail. The pipeline sets shared_depth and
# head_weight from search.json (shared_depth = L in the paper's 'truncate'
# mode); alone, this config trains the fully shared model at w_A = 0.5.
_base_ = './_stage_base.py'

model = dict(type='DualDecoderClassifier', shared_depth=4, head_weight=0.5)
