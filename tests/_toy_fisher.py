"""A tiny float64 ViT task-model pair and its data, for the Fisher tests:
models, items, loaders and the per-sample gradients by ``backward()``."""
import torch
import torch.nn.functional as F
from mmengine.dataset import pseudo_collate
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch.utils.data import DataLoader

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.models.losses import log_prior_odds_from_counts
from mmpretrain_osdtw.osdtw.fisher import TASK_STREAMS, label_uniforms

K = 5
COUNTS = [50, 20, 10, 90, 30]  # head task [3, 0], tail task [4, 1, 2]
TAU = 0.7
NUM_LAYERS = 2


def model_cfg(task='head', num_layers=NUM_LAYERS):
    """Config of a tiny ViT classifier with a task head."""
    return dict(
        type='ImageClassifier',
        data_preprocessor=dict(
            type='ClsDataPreprocessor',
            num_classes=K,
            mean=[120.0] * 3,
            std=[60.0] * 3),
        backbone=dict(
            type='VisionTransformer',
            arch=dict(
                embed_dims=16,
                num_layers=num_layers,
                num_heads=2,
                feedforward_channels=32),
            img_size=8,
            patch_size=4),
        head=dict(
            type='LogitAdjustedBCEHead',
            num_classes=K,
            in_channels=16,
            task=task,
            class_counts=COUNTS,
            loss=dict(type='LogitAdjustedBCELoss', tau=TAU)))


def build_model(task='head', seed=0, num_layers=NUM_LAYERS):
    """A tiny float64 ViT classifier with a task head and random weights."""
    torch.manual_seed(seed)
    model = MODELS.build(model_cfg(task, num_layers))
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.3 * torch.randn_like(param))
    return model.double()


def make_items(num, seed=0):
    """Dataset items as a pipeline ending in PackInputs returns them."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(
        0, 256, (num, 3, 8, 8), generator=gen, dtype=torch.uint8)
    return [
        dict(
            inputs=images[i],
            data_samples=DataSample(metainfo=dict(sample_idx=100 +
                                                  i)).set_gt_label(i % K))
        for i in range(num)
    ]


def loader(items, batch_size=3, sampler=None):
    return DataLoader(
        items,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=pseudo_collate)


def manual_grads(model, items, labels=None):
    """Per-sample gradients by loss.backward(), one sample at a time.

    ``labels`` maps an item index to a task-order target; default the true
    task target.
    """
    head = model.head
    odds = TAU * log_prior_odds_from_counts(
        torch.tensor(COUNTS), head.class_ids).double()
    out = []
    for i, item in enumerate(items):
        data = model.data_preprocessor(pseudo_collate([item]), False)
        target = head.task_targets(data['data_samples']).double()[0]
        if labels is not None:
            target = labels[i]
        model.zero_grad()
        logits = model(data['inputs'].double(), mode='tensor')[0] + odds
        F.binary_cross_entropy_with_logits(
            logits, target, reduction='sum').backward()
        out.append({
            n: p.grad.clone()
            for n, p in model.named_parameters() if p.requires_grad
        })
    return out


def sampled_labels(model, items, num_draws, seed):
    """The labels ``y~ = (u < sigmoid(z'))`` fisher_statistics draws."""
    head = model.head
    odds = TAU * log_prior_odds_from_counts(
        torch.tensor(COUNTS), head.class_ids).double()
    draws = []
    with torch.no_grad():
        for item in items:
            data = model.data_preprocessor(pseudo_collate([item]), False)
            prob = torch.sigmoid(
                model(data['inputs'].double(), mode='tensor')[0] + odds)
            u = label_uniforms([item['data_samples'].sample_idx], num_draws,
                               prob.numel(), seed, TASK_STREAMS[head.task])[0]
            draws.append((u < prob).double())
    return draws


def assert_close(actual, expected, rtol=1e-6):
    assert set(actual) == set(expected)
    for name in expected:
        scale = float(expected[name].abs().max()) or 1.0
        torch.testing.assert_close(
            actual[name].double(),
            expected[name].double(),
            rtol=rtol,
            atol=1e-12 * scale,
            msg=lambda m, n=name: f'{n}: {m}')
