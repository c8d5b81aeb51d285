# The MGP schedule of mae_adamw-coslr-800e_8xb512.py for the CPU-size ViTs:
# one process, batch 256. The lr is LiVT's effective lr (1.5e-4 per 256
# images at its total batch of 4096: 2.4e-3) carried to batch 256 with the
# square-root rule for Adam (2.4e-3 * sqrt(256 / 4096) = 6e-4): the linear
# rule's 1.5e-4 is 16x below the lr the recipe was tuned at (README,
# "Fine-tuning recipe"). 200 epochs by default with the warm-up in LiVT's
# proportion (40 / 800 -> 10 epochs).
# Another length: --cfg-options train_cfg.max_epochs=E (the cosine follows),
# and for the same proportion param_scheduler.0.end=E/20
# param_scheduler.1.begin=E/20.
_base_ = './mae_adamw-coslr-800e_8xb512.py'

optim_wrapper = dict(optimizer=dict(lr=6e-4))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-9,
        by_epoch=True,
        begin=0,
        end=10,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=10,
        eta_min=0.0,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=200)
auto_scale_lr = dict(base_batch_size=256)  # --auto-scale-lr: linear
