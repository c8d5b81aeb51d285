# The CPU-size ViT of the MGP fine-tuning recipe for 32 px images (CIFAR-LT):
# 96 dims, 6 blocks, 3 heads, MLP 384, patch 8 (a 4x4 grid of 16 tokens, the
# grid LiVT's ViT-B/16 sees on CIFAR at 64 px), 0.69M parameters; chosen from
# the measurements of tools/benchmark/recipe_budget.py (README, "Fine-tuning
# recipe"). Fine-tuned as MMPretrain fine-tunes MAE weights: average-pooled
# tokens with fc norm (out_type='avg_featmap', final_norm=False), drop path
# 0.1, the head initialised trunc-normal with std 2e-5 (MAE style, nearly
# zero), Mixup 0.8 / CutMix 1.0. Without an MGP checkpoint it trains from
# scratch (the "from scratch" row of the converged benchmark).
_base_ = 'mmpretrain::_base_/models/vit-base-p16.py'

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
        drop_rate=0.0,
        drop_path_rate=0.1,
        out_type='avg_featmap',
        final_norm=False),
    head=dict(
        in_channels=96,
        init_cfg=dict(type='TruncNormal', layer='Linear', std=2e-5)),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]))
