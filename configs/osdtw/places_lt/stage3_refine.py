# OSDTW decoder refinement: 30 epochs on the task decoders and heads, the
# shared encoder frozen; starts from the assembled checkpoint (set by the
# pipeline). No pretrained weights are loaded: everything comes from
# load_from.
# (stage3_assemble.py is stage2_joint.py for evaluation.)
_base_ = './_stage_base.py'

model = dict(
    type='DualDecoderClassifier',
    shared_depth=12,
    head_weight=0.5,
    freeze_encoder=True,
    backbone=dict(init_cfg=None))
train_cfg = dict(max_epochs=30)
