# MGP (LiVT's masked generative pretraining) on Digits-LT: MMPretrain's MAE
# (mask ratio 0.75, normalised-pixel L2 loss) on the long-tailed training
# split of scikit-learn's 8x8 digits only (labels unused), with the ViT of
# the Digits-LT fine-tuning configs (vit-nano-p2_8px.py). A CPU miniature of
# LiVT's MGP: 200 epochs took about two minutes on one (shared) core.
#   python tools/train.py \
#       configs/mgp/digits_lt/mae_vit-nano-p2_1xb256-coslr-200e.py
# Epochs: --cfg-options train_cfg.max_epochs=E (see the schedule base for the
# warm-up). Fine-tune from its checkpoint: README, "Fine-tuning from an MGP
# checkpoint".
_base_ = [
    '../../_base_/models/mae_vit-nano-p2_8px.py',
    # The training set (switch here): Digits-LT.
    '../../_base_/datasets/digits_lt.py',
    '../../_base_/schedules/mae_adamw-coslr-200e_1xb256.py',
    '../../_base_/mgp_runtime.py',
]

# The dataset config's normalisation, in MAE's preprocessor.
data_preprocessor = dict(
    _delete_=True,
    type='SelfSupDataPreprocessor',
    mean={{_base_.data_preprocessor.mean}},
    std={{_base_.data_preprocessor.std}},
    to_rgb={{_base_.data_preprocessor.to_rgb}})
# The dataset config's augmentation (RandomCrop 8, padding 1): a resized
# crop of an 8 px scan mostly blurs it, and a flip turns digits into other
# shapes.
train_dataloader = dict(batch_size=256)
# Pretraining only: no validation or test.
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
default_hooks = dict(logger=dict(interval=1))
