# Bal-BCE from scratch: the recipe of vit-d96-p8_bal-bce.py without the MGP
# initialisation (the ViT's own init, MMPretrain's), same epochs: what MGP
# adds.
_base_ = './_bench.py'

model = dict(
    backbone=dict(init_cfg=[
        dict(
            type='Kaiming',
            layer='Conv2d',
            mode='fan_in',
            nonlinearity='linear')
    ]))
