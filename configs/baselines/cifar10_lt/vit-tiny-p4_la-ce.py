# Logit-adjusted softmax cross-entropy (Menon et al., 2021) on CIFAR-10-LT.
_base_ = './vit-tiny-p4_ce.py'

model = dict(
    head=dict(
        type='LogitAdjustedCEHead',
        loss=dict(_delete_=True, type='LogitAdjustedCELoss', tau=1.0)))
