"""The task statistics file: written from a model, read, searched; the
typed file (round trip, checks naming the file)."""
import os

import pytest
import torch
from _toy_fisher import COUNTS, K, NUM_LAYERS, build_model, loader, make_items
from _toy_stats import NUM_SAMPLES, PARAMS, task_file

from mmpretrain_osdtw.osdtw.fisher import (TaskStats, body_fingerprint,
                                           cross_task_statistics,
                                           fisher_statistics, load_stats,
                                           param_layer_map)
from mmpretrain_osdtw.osdtw.fisher.cross_stats import save_cross_stats
from mmpretrain_osdtw.osdtw.fisher.task_stats import (load_task_stats,
                                                      save_task_stats)
from mmpretrain_osdtw.osdtw.search import run_search


def test_save_and_search(tmp_path):
    items = make_items(8)
    models = {'head': build_model('head', 1), 'tail': build_model('tail', 2)}
    paths = {}
    for task, model in models.items():
        stats = fisher_statistics(model, loader(items), seed=0)
        paths[task] = str(tmp_path / f'fisher_{task}.pth')
        save_task_stats(paths[task], model, stats, meta=dict(note='x'))
        obj = load_task_stats(paths[task], task)
        meta = obj['meta']
        assert meta['num_classes'] == K and meta['class_counts'] == COUNTS
        assert meta['class_ids'] == model.head.class_ids.tolist()
        assert meta['fingerprint'] == body_fingerprint(model)
        assert meta['task'] == task and meta['note'] == 'x'
        assert meta['arch']['num_layers'] == NUM_LAYERS
        assert obj['num_layers'] == NUM_LAYERS and obj['num_samples'] == 8
        assert obj['v']['backbone.cls_token'].dtype == torch.float32
        assert torch.equal(obj['params']['backbone.cls_token'],
                           model.backbone.cls_token.detach())
    assert sorted(
        os.listdir(tmp_path)) == ['fisher_head.pth', 'fisher_tail.pth']
    paths['cross'] = str(tmp_path / 'fisher_cross.pth')
    save_cross_stats(
        paths['cross'],
        cross_task_statistics(models['head'], models['tail'], loader(items)))
    inputs = load_stats(paths['head'], paths['tail'], paths['cross'])
    one_sided = [s.name for s in inputs.stats if 'only]' in s.name]
    assert one_sided == [
        'head.layers.head.weight [head only]',
        'head.layers.head.bias [head only]',
        'head.layers.head.weight [tail only]',
        'head.layers.head.bias [tail only]'
    ]
    result = run_search(paths['head'], paths['tail'], paths['cross'])
    assert 0 <= result['chosen']['C'] <= NUM_LAYERS
    assert result['N'] == 8 and result['L'] == NUM_LAYERS


# ------------------------------------------------------- the typed file
def assert_same_content(actual: dict, expected: dict):
    assert list(actual) == list(expected)
    for key, value in expected.items():
        if isinstance(value, dict) and value and isinstance(
                next(iter(value.values())), torch.Tensor):
            assert list(actual[key]) == list(value), key
            for name, tensor in value.items():
                assert actual[key][name].dtype == tensor.dtype
                assert torch.equal(actual[key][name], tensor), (key, name)
        else:
            assert actual[key] == value, key


@pytest.mark.parametrize('optional', [
    dict(),
    dict(train_size=5000),
    dict(sgd_noise={
        n: torch.full(s, 0.5)
        for n, (_, s) in PARAMS.items()
    }),
])
def test_round_trip_keeps_the_file_content(tmp_path, optional):
    obj = task_file('head', 1, **optional)
    written = tmp_path / 'old_writer.pth'
    torch.save(obj, written)  # a file as the earlier writers left it
    stats = TaskStats.load(str(written), 'head')
    assert stats.path == str(written) and stats.task == 'head'
    assert stats.proxy_num_samples == optional.get('train_size', NUM_SAMPLES)
    stats.save(str(tmp_path / 'again.pth'))
    again = torch.load(tmp_path / 'again.pth', weights_only=True)
    expected = dict(obj)
    expected['meta'] = expected.pop('meta')  # the canonical key order
    for key in ('sgd_noise', 'train_size'):
        if key in expected:
            expected[key] = expected.pop(key)
    assert_same_content(again, expected)
    assert_same_content(load_task_stats(str(written), 'head'), expected)


def test_from_model_matches_the_model(tmp_path):
    model = build_model('tail', 2)
    stats = fisher_statistics(model, loader(make_items(4)), seed=0)
    typed = TaskStats.from_model(model, stats, train_size=40)
    assert typed.path is None and typed.task == 'tail'
    assert typed.param_layers == param_layer_map(model)
    assert typed.meta['fingerprint'] == body_fingerprint(model)
    assert typed.meta['num_model_samples'] == 1 and typed.meta['seed'] == 0
    assert typed.v['backbone.cls_token'].dtype == torch.float32
    path = str(tmp_path / 'fisher_tail.pth')
    save_task_stats(path, model, stats, train_size=40)
    assert_same_content(load_task_stats(path, 'tail'), typed.to_dict())
    with pytest.raises(ValueError, match="asked for task 'head'"):
        TaskStats.from_model(model, dict(stats, task='head'))
    del stats['v']['backbone.cls_token']
    with pytest.raises(
            ValueError, match="disagree at parameter "
            "'backbone.cls_token'"):
        TaskStats.from_model(model, stats)


@pytest.mark.parametrize('change,message', [
    (dict(task='body'), "task is 'body'"),
    (dict(num_samples=0), 'num_samples must be an int >= 1'),
    (dict(train_size=1.5), 'train_size must be an int >= 1'),
    (dict(param_layers={}), 'param_layers must be a non-empty dict'),
    (dict(param_layers=dict.fromkeys(PARAMS, 3)),
     r"param_layers\['backbone.patch_embed.weight'\] = 3 is outside 0..2"),
    (dict(h={n: torch.ones(2)
             for n in PARAMS}), r"h\['backbone.patch_embed.weight'\] has "
     r'shape \(2,\), params'),
    (dict(sgd_noise={}), "sgd_noise has no entry for parameter"),
])
def test_invalid_content_is_named(tmp_path, change, message):
    obj = dict(task_file('head', 1), **change)
    with pytest.raises(ValueError, match=message):
        TaskStats.from_dict(obj)
    path = tmp_path / 'bad.pth'
    torch.save(obj, path)
    with pytest.raises(ValueError) as info:
        TaskStats.load(str(path), 'head')
    assert str(info.value).startswith(f'{path}: ')
    assert '\n' not in str(info.value)
