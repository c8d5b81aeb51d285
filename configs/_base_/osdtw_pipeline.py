# Host of the OSDTW pipeline. `tools/train.py <dataset>/pipeline.py` builds an
# outer Runner whose train loop is StageRunner; the loop runs every stage as
# its own Runner from the stage configs next to the pipeline config (paths
# below are relative to that folder). The outer model, optimizer and data
# below are never trained or read, but mmengine 0.10.7 needs them: its Runner
# reads cfg['model'] and builds it; train_dataloader, train_cfg and
# optim_wrapper must be all set or all None; Runner.train() asserts the model
# has train_step, builds the optim wrapper over its parameters and calls
# _init_model_weights and load_or_resume before the loop runs. This is the
# one place of that placeholder.
_base_ = './lt_runtime.py'

# The console shows one line per step start and end (and warnings); every
# step's full log, its config and hook table included, goes to the log file
# in its folder. `tools/train.py --verbose` shows everything on the console.
runner_type = 'QuietConsoleRunner'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=8, num_layers=1, num_heads=1, feedforward_channels=8),
        img_size=8,
        patch_size=8),
    head=dict(type='VisionTransformerClsHead', num_classes=2, in_channels=8))
train_dataloader = dict(
    batch_size=1,
    num_workers=0,
    dataset=dict(type='SklearnDigits', split='train'),
    sampler=dict(type='DefaultSampler', shuffle=False))
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.0))
custom_hooks = []
train_cfg = dict(
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
    fisher=dict(chunk_size=32))
