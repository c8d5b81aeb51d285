# MGP on CIFAR-10-LT (in-memory images), then the whole OSDTW pipeline, in
# one resumable command:
#   python tools/train.py configs/osdtw/cifar10_lt/pipeline_mgp.py
# The first step trains the MGP config below (MAE on the long-tailed training
# images, labels unused); its last checkpoint starts the backbones of stage 1
# (both tasks) and stage 2. A short run:
#   --cfg-options train_cfg.mgp_cfg_options.train_cfg.max_epochs=E \
#     train_cfg.stage_cfg_options.train_cfg.max_epochs=E
# Steps and artifacts: see mmpretrain_osdtw/engine/runner/stage_runner.py.
_base_ = './pipeline.py'

# The stage configs' ViT (vit-tiny-p4_32px.py: 128 dims, patch 4) is not the
# MGP encoder: every stage fine-tunes the MGP ViT instead, as
# configs/_base_/models/vit-d96-p8_mae-ft_32px.py builds it (96 dims, 6
# blocks, 3 heads, patch 8; average pooling with fc norm, drop path 0.1).
# These options reach `model.backbone`, so `train_cfg.stage1_pair` (a
# TaskPairClassifier, backbone at model.model.backbone) is not available here.
train_cfg = dict(
    mgp='../../mgp/cifar10_lt/mae_vit-mini-p8_1xb256-coslr-200e.py',
    stage_cfg_options=dict(
        model=dict(
            backbone=dict(
                arch=dict(
                    embed_dims=96,
                    num_layers=6,
                    num_heads=3,
                    feedforward_channels=384),
                patch_size=8,
                drop_path_rate=0.1,
                out_type='avg_featmap',
                final_norm=False),
            head=dict(in_channels=96))))
