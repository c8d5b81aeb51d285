"""LowRankLinear, inject / general path / merge on a tiny ViT classifier."""
import copy

import pytest
import torch
from mmcv.cnn.bricks.wrappers import Linear as MMCVLinear
from mmpretrain.registry import MODELS
from torch import nn

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.models.more import (VIT_TARGETS, LowRankLinear,
                                          MOREClassifier, find_linear_layers,
                                          general_path, inject_low_rank,
                                          low_rank_layers, merge_low_rank,
                                          merge_state_dict, tail_parameters)

BACKBONE = dict(
    type='VisionTransformer',
    arch=dict(
        embed_dims=16, num_layers=2, num_heads=2, feedforward_channels=32),
    img_size=8,
    patch_size=4,
    drop_path_rate=0.1)
# A head with random weights (the default zero init hides differences).
HEAD = dict(
    type='VisionTransformerClsHead',
    num_classes=5,
    in_channels=16,
    init_cfg=None)
COUNTS = [40, 20, 10, 5, 3]


def plain_model(seed=0):
    torch.manual_seed(seed)
    model = MODELS.build(
        dict(type='ImageClassifier', backbone=BACKBONE, head=HEAD))
    model.init_weights()
    return model.eval()


def more_model(plain, **kwargs):
    """A MORE model holding the plain model's weights (tail at init)."""
    kwargs.setdefault('rank', 2)
    model = MOREClassifier(
        backbone=BACKBONE,
        head=HEAD,
        rebalancing_loss=dict(type='MORERebalancingLoss', class_counts=COUNTS),
        **kwargs)
    missing, unexpected = model.load_state_dict(
        plain.state_dict(), strict=False)
    assert not unexpected
    assert all(k.endswith(('tail_A', 'tail_B')) for k in missing)
    return model.eval()


def randomise_tail(model, std=0.2, seed=1):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in tail_parameters(model):
            param.copy_(torch.randn(param.shape, generator=gen) * std)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.fixture
def images():
    return torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(2))


def test_layer_starts_equal_to_plain_linear():
    torch.manual_seed(0)
    linear = nn.Linear(6, 4)
    layer = LowRankLinear.from_linear(linear, rank=3)
    x = torch.randn(5, 6)
    assert layer.weight is linear.weight and layer.bias is linear.bias
    assert torch.count_nonzero(layer.tail_B) == 0
    assert torch.count_nonzero(layer.tail_A) > 0
    torch.testing.assert_close(layer(x), linear(x), rtol=0, atol=0)
    assert layer.tail_A.shape == (3, 6) and layer.tail_B.shape == (4, 3)


def test_layer_full_and_general_outputs():
    torch.manual_seed(0)
    layer = LowRankLinear(6, 4, rank=2)
    randomise_tail(layer)
    x = torch.randn(5, 6)
    full = x @ (layer.weight + layer.tail_B @ layer.tail_A).T + layer.bias
    torch.testing.assert_close(layer(x), full)
    layer.general_only = True
    torch.testing.assert_close(layer(x), x @ layer.weight.T + layer.bias)


def test_default_targets_are_every_vit_block_linear():
    model = more_model(plain_model())
    expected = [
        f'backbone.layers.{i}.{part}' for i in range(2)
        for part in ('attn.qkv', 'attn.proj', 'ffn.layers.0.0', 'ffn.layers.1')
    ]
    assert model.low_rank_names == expected
    assert list(low_rank_layers(model)) == expected
    assert isinstance(model.head.layers.head, nn.Linear)
    assert not isinstance(model.head.layers.head, LowRankLinear)
    assert list(VIT_TARGETS)  # documented default


def test_head_is_decomposed_when_a_pattern_names_it():
    model = more_model(
        plain_model(), target_modules=[r'head\.layers\.head'], rank=3)
    assert model.low_rank_names == ['head.layers.head']


def test_zero_initialised_model_equals_plain_model(images):
    plain = plain_model()
    model = more_model(plain)
    with torch.no_grad():
        torch.testing.assert_close(
            model(images), plain(images), rtol=0, atol=0)
    assert n_params(model) == n_params(plain) + sum(
        p.numel() for p in tail_parameters(model))


def test_general_path_is_the_plain_model_whatever_the_tail(images):
    plain = plain_model()
    model = more_model(plain)
    randomise_tail(model)
    with torch.no_grad():
        full = model(images)
        with general_path(model):
            general = model(images)
        after = model(images)
    torch.testing.assert_close(general, plain(images), rtol=0, atol=1e-6)
    assert (full - general).abs().max() > 1e-3
    torch.testing.assert_close(after, full, rtol=0, atol=0)


def test_merged_model_equals_unmerged_full_path(images):
    plain = plain_model()
    model = more_model(plain)
    randomise_tail(model)
    with torch.no_grad():
        full = model(images)
        merged = copy.deepcopy(model)
        names = merge_low_rank(merged)
        assert names == model.low_rank_names
        assert not low_rank_layers(merged)
        assert (merged(images) - full).abs().max() <= 1e-5
    assert n_params(merged) == n_params(plain)
    # The MLP layers keep mmcv's Linear type, attention layers nn.Linear.
    block = merged.backbone.layers[0]
    assert type(block.ffn.layers[1]) is MMCVLinear
    assert type(block.attn.qkv) is nn.Linear


def test_merged_state_dict_loads_strictly_into_the_plain_model(images):
    plain = plain_model()
    model = more_model(plain)
    randomise_tail(model)
    state, layers = merge_state_dict(model.state_dict())
    assert layers == model.low_rank_names
    target = plain_model(seed=5)
    assert list(state) == list(target.state_dict())
    target.load_state_dict(state, strict=True)
    with torch.no_grad():
        assert (target(images) - model(images)).abs().max() <= 1e-5


def test_rank_below_one_is_an_error():
    with pytest.raises(ValueError, match=r'rank=0 .*1\.\.16'):
        more_model(plain_model(), rank=0)


def test_rank_larger_than_a_layer_allows_names_the_layer():
    with pytest.raises(
            ValueError,
            match=r"rank=17 .*'backbone\.layers\.0"
            r"\.attn\.qkv'.*in_features=16"):
        more_model(plain_model(), rank=17)


def test_rank_must_be_an_int():
    with pytest.raises(TypeError, match='rank must be an int'):
        LowRankLinear(4, 4, rank=2.0)


def test_pattern_matching_nothing_names_the_pattern():
    with pytest.raises(
            ValueError,
            match=r"pattern 'backbone\\\\.nope' matches no "
            r'nn\.Linear'):
        more_model(plain_model(), target_modules=[r'backbone\.nope'])


def test_pattern_matching_only_a_conv_says_so():
    with pytest.raises(
            ValueError,
            match=r'only non-linear modules: '
            r'backbone\.patch_embed\.projection \(Conv2d\)'):
        more_model(
            plain_model(),
            target_modules=[r'backbone\.patch_embed\.projection'])


def test_invalid_or_empty_patterns():
    model = plain_model()
    with pytest.raises(ValueError, match='not a valid regular expression'):
        find_linear_layers(model, ['backbone.(qkv'])
    with pytest.raises(ValueError, match='target_modules is empty'):
        find_linear_layers(model, [])


def test_inject_twice_is_an_error():
    model = nn.Sequential(nn.Linear(4, 4))
    inject_low_rank(model, '0', rank=2)
    with pytest.raises(ValueError, match="layer '0' is already decomposed"):
        inject_low_rank(model, '0', rank=2)
