# The recipe of every OSDTW stage on ImageNet-LT (stage1_*.py, stage2_joint.py,
# stage3_*.py), the paper's: MAE-pretrained ViT-B/16, AdamW(0.9, 0.99), lr
# 1e-3 at batch 1024, drop path 0.1, RandAug(9, 0.5), Mixup 0.8, CutMix 1.0,
# LiVT's Bal-BCE head with label smoothing 0.1, 100 epochs. The Bal-BCE
# baseline (configs/baselines/imagenet_lt/vit-base-p16_mae-ft_bal-bce.py) is
# not inherited, so that an edit of the baseline leaves the stages as they
# are. Pretrained weights:
#   --cfg-options model.backbone.init_cfg.checkpoint=<mae_vit-base-p16.pth>
# (train_cfg.stage_cfg_options.model.backbone.init_cfg.checkpoint=... on the
# pipeline).
_base_ = [
    '../../_base_/models/vit-base-p16_mae-ft.py',
    '../../_base_/datasets/imagenet_lt.py',
    '../../_base_/schedules/adamw_mae-ft_lt.py',
    '../../_base_/lt_runtime.py',
]

# Smoothing over all K classes, also in the stage-1 task models: a task's
# target is the slice of the smoothed K-class target.
model = dict(
    head=dict(
        type='LogitAdjustedBCEHead',
        num_classes=1000,
        loss=dict(
            _delete_=True,
            type='LogitAdjustedBCELoss',
            tau=1.0,
            label_smooth_val=0.1,
            smooth_num_classes=1000)))
train_cfg = dict(max_epochs=100)
