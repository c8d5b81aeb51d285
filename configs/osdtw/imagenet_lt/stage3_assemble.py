# OSDTW stage 3: the assembled model (stage-2 encoder of depth C + stage-1
# decoders and heads) for evaluation; the pipeline writes the resolved config
# next to the checkpoint (WORK_DIR/assemble/assembled_config.py).
_base_ = './_stage_base.py'

model = dict(type='DualDecoderClassifier', shared_depth=12, head_weight=0.5)
