# The whole OSDTW pipeline on ImageNet-LT (resumable):
#   python tools/train.py configs/osdtw/imagenet_lt/pipeline.py \
#     --cfg-options train_cfg.stage_cfg_options.model.backbone.init_cfg.checkpoint=<mae.pth>
#   (several GPUs: torchrun --nproc_per_node 8 tools/train.py ... --launcher pytorch)
_base_ = './stage1_head.py'

train_cfg = dict(
    _delete_=True,
    type='StageRunner',
    stage1_head='stage1_head.py',
    stage1_tail='stage1_tail.py',
    stage2='stage2_joint.py',
    assemble='stage3_assemble.py',
    refine='stage3_refine.py',
    stage2_mode='truncate',
    search=dict(
        variant='full',
        mismatch='debiased-positive',
        w_step=0.01,
        w_min=0.05,
        w_max=0.95),
    fisher=dict(chunk_size=8))
param_scheduler = None
val_dataloader = None
val_cfg = None
val_evaluator = None
custom_hooks = []
# The outer Runner only hosts the loop: do not load weights into its model.
model = dict(backbone=dict(init_cfg=None))
