# OSDTW decoder refinement on CIFAR-100-LT, shared encoder frozen.
# (stage3_assemble.py is stage2_joint.py for evaluation.)
_base_ = './_stage_base.py'

model = dict(
    type='DualDecoderClassifier',
    shared_depth=6,
    head_weight=0.5,
    freeze_encoder=True)
train_cfg = dict(max_epochs=60)
