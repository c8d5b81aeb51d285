# OSDTW stage-3 refinement: train only the task decoders and heads of the
# assembled model, the shared encoder frozen (the pipeline sets load_from to
# the assembled checkpoint).
# (stage3_assemble.py is stage2_joint.py for evaluation.)
_base_ = './_stage_base.py'

model = dict(
    type='DualDecoderClassifier',
    shared_depth=4,
    head_weight=0.5,
    freeze_encoder=True)
train_cfg = dict(max_epochs=20, val_interval=10)
