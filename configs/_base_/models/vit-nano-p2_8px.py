# A 4-block ViT for 8x8 inputs (patch 2, 16 tokens, 64 dims, 0.2M
# parameters), built from MMPretrain's ViT config. Trains in seconds on CPU.
_base_ = 'mmpretrain::_base_/models/vit-base-p16.py'

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=64,
            num_layers=4,
            num_heads=4,
            feedforward_channels=128),
        img_size=8,
        patch_size=2,
        drop_rate=0.0),
    head=dict(in_channels=64))
