# Bal-BCE (the logit-adjusted BCE of LiVT) on Digits-LT.
_base_ = './vit-nano-p2_ce.py'

model = dict(
    head=dict(
        type='LogitAdjustedBCEHead',
        loss=dict(_delete_=True, type='LogitAdjustedBCELoss', tau=1.0)))
