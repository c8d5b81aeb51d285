"""The synthetic models and batches that items 1, 3 and 4 time: small ViT
classifiers on the benchmarks' device, uint8 images with labels."""
import torch

from . import runtime

NUM_CLASSES = 10
COUNTS = [100, 80, 64, 50, 40, 32, 25, 20, 16, 12]


def vit_cfg(dims: int, layers: int, img: int, patch: int) -> dict:
    return dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=dims,
            num_layers=layers,
            num_heads=4,
            feedforward_channels=2 * dims),
        img_size=img,
        patch_size=patch,
        drop_rate=0.0)


def classifier(backbone: dict, head: dict, seed: int = 0):
    from mmpretrain.registry import MODELS
    torch.manual_seed(seed)
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            data_preprocessor=dict(
                type='ClsDataPreprocessor',
                num_classes=NUM_CLASSES,
                mean=[120.0] * 3,
                std=[60.0] * 3),
            backbone=backbone,
            head=head))
    with torch.no_grad():  # nonzero head weights (heads init to zero)
        for param in model.parameters():
            param.add_(0.02 * torch.randn_like(param))
    return model.to(runtime.DEVICE)


def bce_head(dims: int, task=None) -> dict:
    return dict(
        type='LogitAdjustedBCEHead',
        num_classes=NUM_CLASSES,
        in_channels=dims,
        task=task,
        class_counts=COUNTS,
        loss=dict(type='LogitAdjustedBCELoss', tau=1.0))


def make_batches(num: int, batch_size: int, img: int, seed: int = 0):
    """Batches as mmengine's ``pseudo_collate`` yields them."""
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(
        0, 256, (num, 3, img, img), generator=gen, dtype=torch.uint8)
    labels = torch.randint(0, NUM_CLASSES, (num, ), generator=gen)
    batches = []
    for start in range(0, num, batch_size):
        idx = range(start, min(num, start + batch_size))
        batches.append(
            dict(
                inputs=[images[i] for i in idx],
                data_samples=[
                    DataSample(metainfo=dict(sample_idx=i)).set_gt_label(
                        int(labels[i])) for i in idx
                ]))
    return batches
