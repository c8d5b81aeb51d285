# A 6-block ViT for 32x32 inputs (patch 4, 64 tokens, 128 dims, 1.2M
# parameters), built from MMPretrain's ViT config, sized to train CIFAR-LT
# from scratch on a CPU.
_base_ = 'mmpretrain::_base_/models/vit-base-p16.py'

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=128,
            num_layers=6,
            num_heads=4,
            feedforward_channels=384),
        img_size=32,
        patch_size=4,
        drop_rate=0.0),
    head=dict(in_channels=128))
