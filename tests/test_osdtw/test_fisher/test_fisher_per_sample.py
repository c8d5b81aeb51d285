"""Per-sample gradients of the task log-likelihood (torch.func)."""
import warnings

import pytest
import torch
from _toy_fisher import (assert_close, build_model, loader, make_items,
                         manual_grads)
from mmengine.dataset import pseudo_collate

from mmpretrain_osdtw.osdtw.fisher import (fisher_statistics,
                                           per_sample_task_grads)


@pytest.mark.parametrize('task', ['head', 'tail'])
def test_per_sample_grads_match_backward(task):
    model = build_model(task).eval()
    items = make_items(5)
    data = model.data_preprocessor(pseudo_collate(items), False)
    targets = model.head.task_targets(data['data_samples'])
    grads = per_sample_task_grads(model, data['inputs'], targets, chunk_size=2)
    expected = manual_grads(model, items)
    for i, ref in enumerate(expected):
        assert_close({n: g[i] for n, g in grads.items()}, ref)
    subset = per_sample_task_grads(
        model, data['inputs'], targets, params=['backbone.cls_token'])
    assert list(subset) == ['backbone.cls_token']
    assert torch.allclose(subset['backbone.cls_token'],
                          grads['backbone.cls_token'])


def test_fisher_pass_batches_attention():
    """vmap must not fall back to a per-sample loop for the attention
    kernel (the fused CPU kernel has no batching rule)."""
    model = build_model('head')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        fisher_statistics(model, loader(make_items(4)), chunk_size=4)
    fallbacks = [
        str(w.message) for w in caught if 'batching rule' in str(w.message)
    ]
    assert not fallbacks, fallbacks[0]
