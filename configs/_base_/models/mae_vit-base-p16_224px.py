# MGP (MAE) ViT-B/16 at 224 px: MMPretrain's MAE config (encoder ViT-B,
# decoder 512 dims, 8 blocks, 16 heads, normalised-pixel L2 loss), with the
# image size and the decoder's number of patches written out ((224 / 16)^2).
# Fine-tune with configs/_base_/models/vit-base-p16_mae-ft.py.
_base_ = 'mmpretrain::_base_/models/mae_vit-base-p16.py'

model = dict(
    backbone=dict(img_size=224, patch_size=16, mask_ratio=0.75),
    neck=dict(num_patches=196, patch_size=16),
    head=dict(patch_size=16))
