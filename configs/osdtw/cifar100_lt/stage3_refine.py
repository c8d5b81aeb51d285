# OSDTW decoder refinement on CIFAR-100-LT, shared encoder frozen.
_base_ = './stage3_assemble.py'

model = dict(freeze_encoder=True)
train_cfg = dict(max_epochs=60)
