# OSDTW stage 3: the assembled model (stage-2 encoder of depth C + stage-1
# decoders and heads) for evaluation. The pipeline writes the resolved
# version of this config next to the assembled checkpoint:
#   python tools/test.py WORK_DIR/assemble/assembled_config.py \
#       WORK_DIR/assemble/assembled.pth
_base_ = './_stage_base.py'

model = dict(type='DualDecoderClassifier', shared_depth=4, head_weight=0.5)
