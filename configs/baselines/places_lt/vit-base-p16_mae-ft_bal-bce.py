# Bal-BCE (LiVT) fine-tuning of an MAE-pretrained ViT-B/16 on Places-LT.
_base_ = './vit-base-p16_mae-ft_ce.py'

model = dict(
    head=dict(
        type='LogitAdjustedBCEHead',
        loss=dict(
            _delete_=True,
            type='LogitAdjustedBCELoss',
            tau=1.0,
            label_smooth_val=0.1)))
