# MGP (MAE) for 32 px images, from MMPretrain's MAE ViT-B config. The encoder
# is the CIFAR-LT fine-tuning ViT (patch 8: a 4x4 grid of 16 tokens, the grid
# of LiVT's ViT-B/16 at 64 px; 96 dims, 6 blocks, 3 heads, MLP 384, 0.69M
# parameters): fine-tune it with the same arch, img_size and patch_size.
# Decoder: 2 blocks over all 16 patches, 64 dims and 2 heads (head width 32
# as in the encoder; MAE's ViT-B decoder is 512 of 768 dims with width-32
# heads, and MAE's decoder-width ablation changes fine-tuning accuracy little).
# The decoder sees 4x the encoder's tokens at mask ratio 0.75: 64 dims made a
# step 1.3x faster than 96 dims (batch 256, 1 thread, fwd+bwd+AdamW).
_base_ = 'mmpretrain::_base_/models/mae_vit-base-p16.py'

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=96,
            num_layers=6,
            num_heads=3,
            feedforward_channels=384),
        img_size=32,
        patch_size=8,
        mask_ratio=0.75),
    neck=dict(
        num_patches=16,  # (32 / 8)^2; MMPretrain's default 196 is ViT-B/16
        patch_size=8,
        embed_dim=96,
        decoder_embed_dim=64,
        decoder_depth=2,
        decoder_num_heads=2,
        mlp_ratio=4.),
    head=dict(patch_size=8))
