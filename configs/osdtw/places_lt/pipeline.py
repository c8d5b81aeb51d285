# The whole OSDTW pipeline on Places-LT (ViT-B/16, the paper's recipe),
# resumable:
#   python tools/train.py configs/osdtw/places_lt/pipeline.py --cfg-options \
#     train_cfg.stage_cfg_options.model.backbone.init_cfg.checkpoint=<mae.pth>
#   several GPUs: torchrun --nproc_per_node 8 tools/train.py ... \
#     --launcher pytorch
_base_ = '../../_base_/osdtw_pipeline.py'

# ViT-B per-sample gradients: chunk_size * 3 * 86M floats at a time.
train_cfg = dict(fisher=dict(chunk_size=8))
