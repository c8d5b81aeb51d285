# The LiVT / OSDTW fine-tuning recipe for an MAE-pretrained ViT-B:
# AdamW(0.9, 0.99), lr 1e-3 at batch 1024 (scaled with --auto-scale-lr),
# weight decay 0.05, layer-wise lr decay 0.75, 5 warm-up epochs then cosine to
# 1e-6, 100 epochs. (The OSDTW paper prints weight decay 0.5; we keep LiVT's
# 0.05, see README.)
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=1e-3, weight_decay=0.05, betas=(0.9, 0.99)),
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.75,
        custom_keys={
            '.ln': dict(decay_mult=0.0),
            '.bias': dict(decay_mult=0.0),
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0)
        }))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=5,
        eta_min=1e-6,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=1024)
