# Bal-BCE (the logit-adjusted BCE of LiVT) on CIFAR-10-LT.
_base_ = './vit-tiny-p4_ce.py'

model = dict(
    head=dict(
        type='LogitAdjustedBCEHead',
        loss=dict(_delete_=True, type='LogitAdjustedBCELoss', tau=1.0)))
