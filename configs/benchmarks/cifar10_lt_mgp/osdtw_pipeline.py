# The whole OSDTW pipeline on the benchmark recipe (stage configs next to
# this file, each starting from the MGP checkpoint): proxy search with the
# debiased-positive mismatch, the Fisher statistics on a random 4,096 of the
# training images.
#   python tools/train.py configs/benchmarks/cifar10_lt_mgp/osdtw_pipeline.py \
#     --cfg-options train_cfg.stage_cfg_options.model.backbone.init_cfg.\
#   checkpoint=<MGP checkpoint>
# (one option: no blank after the backslash).
_base_ = '../../_base_/osdtw_pipeline.py'

train_cfg = dict(
    stage1_head='osdtw_stage1_head.py',
    stage1_tail='osdtw_stage1_tail.py',
    stage2='osdtw_stage2_joint.py',
    assemble='osdtw_stage3_assemble.py',
    refine='osdtw_stage3_refine.py',
    fisher=dict(chunk_size=64, max_samples=4096))
