# MGP (MAE) for 8 px images (Digits-LT), from MMPretrain's MAE ViT-B config.
# The encoder is the Digits-LT fine-tuning ViT of vit-nano-p2_8px.py (patch 2:
# a 4x4 grid of 16 tokens; 64 dims, 4 blocks, 4 heads, MLP 128). Decoder: 64
# dims, 2 blocks, 4 heads, over the 16 patches.
_base_ = 'mmpretrain::_base_/models/mae_vit-base-p16.py'

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
        mask_ratio=0.75),
    neck=dict(
        num_patches=16,  # (8 / 2)^2; MMPretrain's default 196 is ViT-B/16
        patch_size=2,
        embed_dim=64,
        decoder_embed_dim=64,
        decoder_depth=2,
        decoder_num_heads=4,
        mlp_ratio=4.),
    head=dict(patch_size=2))
