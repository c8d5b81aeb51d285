# Bal-BCE (LiVT's logit-adjusted BCE) fine-tuned from the MGP checkpoint on
# CIFAR-10-LT: the benchmark's recipe (_bench.py) as it is.
#   python tools/train.py \
#       configs/benchmarks/cifar10_lt_mgp/vit-d96-p8_bal-bce.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=<MGP checkpoint>
_base_ = './_bench.py'
