# MGP on Digits-LT, then the whole OSDTW pipeline, in one resumable command:
#   python tools/train.py configs/osdtw/digits_lt/pipeline_mgp.py
# The first step trains the MGP config below (MAE on the long-tailed training
# split, labels unused); its last checkpoint starts the backbones of stage 1
# (both tasks) and stage 2. A short run:
#   --cfg-options train_cfg.mgp_cfg_options.train_cfg.max_epochs=E \
#     train_cfg.stage_cfg_options.train_cfg.max_epochs=E
# Steps and artifacts: see mmpretrain_osdtw/engine/runner/stage_runner.py.
_base_ = './pipeline.py'

train_cfg = dict(mgp='../../mgp/digits_lt/mae_vit-nano-p2_1xb256-coslr-200e.py')
