# OSDTW decoder refinement on CIFAR-100-LT, shared encoder frozen.
# (stage3_assemble.py is stage2_joint.py for evaluation.)
_base_ = './stage2_joint.py'

model = dict(freeze_encoder=True)
train_cfg = dict(max_epochs=60)
