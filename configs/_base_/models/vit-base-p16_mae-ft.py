# ViT-B/16 as MMPretrain fine-tunes MAE weights (avg-pooled tokens, no final
# norm, drop path 0.1). Give the MAE checkpoint (URL or path) with
#   --cfg-options model.backbone.init_cfg.checkpoint=<mae_vit-base-p16.pth>
# e.g. https://download.openmmlab.com/mmselfsup/1.x/mae/
#   mae_vit-base-p16_8xb512-amp-coslr-800e_in1k/
#   mae_vit-base-p16_8xb512-coslr-800e-amp_in1k_20220825-5d81fbc4.pth
# (not downloaded by the tests).
_base_ = 'mmpretrain::_base_/models/vit-base-p16.py'

model = dict(
    backbone=dict(
        arch='base',
        img_size=224,
        patch_size=16,
        drop_rate=0.0,
        drop_path_rate=0.1,
        out_type='avg_featmap',
        final_norm=False,
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint='',
            prefix='backbone.')),
    head=dict(in_channels=768),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]))
