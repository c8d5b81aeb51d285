"""The statistics v, h and k against loops of backward(), and their
errors."""
import pytest
import torch
from _toy_fisher import (assert_close, build_model, loader, make_items,
                         manual_grads, sampled_labels)

from mmpretrain_osdtw.osdtw.fisher import (TaskStats, body_fingerprint,
                                           check_statistics,
                                           cross_task_statistics,
                                           fisher_statistics, label_uniforms,
                                           param_layer_map)


def test_v_and_h_match_manual_loop():
    model = build_model('tail')
    model.train()
    items = make_items(7)
    stats = fisher_statistics(
        model, loader(items), num_model_samples=2, seed=5, chunk_size=2)
    assert model.training and model.backbone.layers[0].training  # restored
    assert stats['num_samples'] == 7 and stats['task'] == 'tail'
    model.eval()
    true = manual_grads(model, items)
    v_ref = {n: sum(g[n]**2 for g in true) / 7 for n in true[0]}
    assert_close(stats['v'], v_ref)
    draws = sampled_labels(model, items, 2, seed=5)
    h_ref = {n: torch.zeros_like(v) for n, v in v_ref.items()}
    for m in range(2):
        grads = manual_grads(model, items, [d[m] for d in draws])
        for n in h_ref:
            h_ref[n] += sum(g[n]**2 for g in grads) / 14
    assert_close(stats['h'], h_ref)
    # the draws differ from the true labels: h is not v
    assert not torch.allclose(stats['h']['head.layers.head.bias'],
                              stats['v']['head.layers.head.bias'])


def test_h_reproducible_and_independent_of_chunks_and_batches():
    model = build_model('head')
    items = make_items(7)
    ref = fisher_statistics(model, loader(items, 7), seed=1, chunk_size=7)
    for batch_size, chunk in ((1, 1), (3, 2), (4, 32)):
        stats = fisher_statistics(
            model, loader(items, batch_size), seed=1, chunk_size=chunk)
        assert_close(stats['v'], ref['v'], rtol=1e-10)
        assert_close(stats['h'], ref['h'], rtol=1e-10)
    other = fisher_statistics(model, loader(items), seed=2)
    assert not all(torch.equal(other['h'][n], ref['h'][n]) for n in ref['h'])
    draws = label_uniforms([100, 101], 3, 2, seed=1, stream=1)
    assert torch.equal(draws, label_uniforms([100, 101], 3, 2, 1, 1))
    assert torch.equal(draws[1], label_uniforms([101], 3, 2, 1, 1)[0])
    assert not torch.equal(draws, label_uniforms([100, 101], 3, 2, 1, 2))


def test_max_samples_and_float32_model():
    model = build_model('head').float()
    items = make_items(6)
    stats = fisher_statistics(model, loader(items), max_samples=4)
    ref = fisher_statistics(model, loader(items[:4], 4))
    assert stats['num_samples'] == 4
    assert_close(stats['v'], ref['v'], rtol=1e-5)
    assert stats['v']['backbone.cls_token'].dtype == torch.float64


def test_cross_task_k_matches_manual_loop():
    model_a, model_b = build_model('head', 1), build_model('tail', 2)
    items = make_items(6)
    stats = cross_task_statistics(
        model_a, model_b, loader(items, 4), chunk_size=3)
    grads_a = manual_grads(model_a.eval(), items)
    grads_b = manual_grads(model_b.eval(), items)
    # K = 5: the heads have 2 and 3 outputs, so they are not covered
    names = [n for n in param_layer_map(model_a) if not n.startswith('head')]
    assert list(stats['k']) == names and stats['num_samples'] == 6
    k_ref = {
        n: sum(a[n] * b[n] for a, b in zip(grads_a, grads_b)) / 6
        for n in names
    }
    assert_close(stats['k'], k_ref)
    assert stats['meta']['fingerprint'] == body_fingerprint(model_b)


def test_cross_task_errors():
    model_a = build_model('head')
    with pytest.raises(ValueError, match="task 'tail'"):
        cross_task_statistics(model_a, build_model('head'), [])
    other = build_model('tail', num_layers=3)
    with pytest.raises(ValueError, match='different backbones'):
        cross_task_statistics(model_a, other, [])


def test_errors():
    no_task = build_model(None)
    with pytest.raises(ValueError, match="needs a task head"):
        fisher_statistics(no_task, [])
    model = build_model('head')
    with pytest.raises(ValueError, match="asked for task 'tail'"):
        fisher_statistics(model, [], task='tail')
    with pytest.raises(ValueError, match='no sample'):
        fisher_statistics(model, [])
    with pytest.raises(ValueError, match='num_model_samples'):
        fisher_statistics(model, [], num_model_samples=0)
    with pytest.raises(ValueError, match='chunk_size'):
        fisher_statistics(model, [], chunk_size=0)
    with torch.no_grad():
        model.backbone.pos_embed[0, 1, 0] = float('nan')
    stats = fisher_statistics(model, loader(make_items(3)))
    with pytest.raises(
            ValueError, match=r"v\['backbone.cls_token'\] has "
            r'\d+ non-finite'):
        check_statistics(stats)
    with pytest.raises(ValueError, match='non-finite'):
        TaskStats.from_model(model, stats)
    zero = dict(v={'a': torch.zeros(2)}, h={'a': torch.ones(2)})
    with pytest.raises(ValueError, match='v is zero for every parameter'):
        check_statistics(zero)
