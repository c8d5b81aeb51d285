# LiVT's MGP schedule (MAE's recipe): AdamW(0.9, 0.95), weight decay 0.05
# (none on norms, biases, position embedding, class and mask tokens), base lr
# 1.5e-4 per 256 images, here for a total batch of 4096 (8 x 512;
# --auto-scale-lr rescales it to the actual total batch), 40 linear warm-up
# epochs, then cosine to 0 at epoch 800. fp32 OptimWrapper (CPU or GPU);
# `tools/train.py --amp` switches to AmpOptimWrapper on a GPU.
mgp_base_lr = 1.5e-4  # per 256 images
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW',
        lr=mgp_base_lr * 4096 / 256,
        betas=(0.9, 0.95),
        weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'ln': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.)
        }))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-9,
        by_epoch=True,
        begin=0,
        end=40,
        convert_to_iter_based=True),
    # No `end`: cosine until train_cfg.max_epochs.
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=40,
        eta_min=0.0,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=800)
auto_scale_lr = dict(base_batch_size=4096)
