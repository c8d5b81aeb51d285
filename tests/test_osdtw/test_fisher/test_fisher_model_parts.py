"""The parts of a task model: the OSDTW layer map."""
from _toy_fisher import build_model

from mmpretrain_osdtw.osdtw.fisher import param_layer_map


def test_param_layer_map():
    model = build_model('tail', num_layers=3)
    model.backbone.layers[2].ln1.weight.requires_grad_(False)
    layers = param_layer_map(model)
    assert 'backbone.layers.2.ln1.weight' not in layers
    assert layers['backbone.cls_token'] == 1
    assert layers['backbone.patch_embed.projection.weight'] == 1
    assert layers['backbone.layers.0.attn.qkv.weight'] == 1
    assert layers['backbone.layers.2.ffn.layers.1.bias'] == 3
    assert layers['backbone.ln1.weight'] == 0
    assert layers['head.layers.head.weight'] == 0
    assert list(layers) == [
        n for n, p in model.named_parameters() if p.requires_grad
    ]
