"""The batched-decoder inference path of DualDecoderClassifier."""
import pytest
import torch
from mmpretrain.registry import MODELS

import mmpretrain_osdtw  # noqa: F401

torch.set_num_threads(1)
BACKBONE = dict(
    type='VisionTransformer',
    arch=dict(
        embed_dims=32, num_layers=3, num_heads=2, feedforward_channels=64),
    img_size=8,
    patch_size=2,
    drop_rate=0.0)
HEAD = dict(
    type='LogitAdjustedBCEHead',
    num_classes=5,
    in_channels=32,
    class_counts=[50, 40, 30, 20, 10])


def _pair(depth: int):
    torch.manual_seed(depth)
    cfg = dict(
        type='DualDecoderClassifier',
        backbone=BACKBONE,
        head=HEAD,
        shared_depth=depth)
    plain = MODELS.build(cfg)
    with torch.no_grad():  # nonzero heads, distinct decoders
        for param in plain.parameters():
            param.add_(0.05 * torch.randn_like(param))
    batched = MODELS.build(dict(cfg, batched_decoders=True))
    batched.load_state_dict(plain.state_dict())
    return plain, batched


@pytest.mark.parametrize('depth', [0, 1, 3])
def test_batched_equals_sequential(depth):
    plain, batched = _pair(depth)
    assert list(plain.state_dict()) == list(batched.state_dict())
    images = torch.randn(6, 3, 8, 8)
    plain.eval()
    batched.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            batched(images), plain(images), rtol=0, atol=1e-5)
        scores_a = [s.pred_score for s in plain.predict(images)]
        scores_b = [s.pred_score for s in batched.predict(images)]
    torch.testing.assert_close(
        torch.stack(scores_b), torch.stack(scores_a), rtol=0, atol=1e-5)


def test_training_mode_uses_the_sequential_path():
    _, batched = _pair(1)
    batched.train()
    logits = batched(torch.randn(2, 3, 8, 8))
    logits.sum().backward()
    grads = [
        p.grad for n, p in batched.named_parameters()
        if n.startswith('decoders.')
    ]
    assert grads and all(g is not None for g in grads)
