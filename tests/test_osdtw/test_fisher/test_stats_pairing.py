"""Pairing the statistics files: the proxy's inputs, and one-line errors
naming the file for files that do not belong together."""
from dataclasses import replace

import pytest
import torch
from _toy_stats import NUM_SAMPLES, PARAMS, cross_file, task_file

from mmpretrain_osdtw.osdtw.fisher import (CrossStats, ProxyInputs, TaskStats,
                                           TaskStatsPair, load_stats)
from mmpretrain_osdtw.osdtw.proxy import proxy_grid
from mmpretrain_osdtw.osdtw.search import run_search


def test_load_stats_round_trip(artifacts):
    head = torch.load(artifacts['head'], weights_only=True)
    tail = torch.load(artifacts['tail'], weights_only=True)
    cross = torch.load(artifacts['cross'], weights_only=True)
    inputs = load_stats(artifacts['head'], artifacts['tail'],
                        artifacts['cross'])
    assert inputs.num_layers == 2 and inputs.num_samples == NUM_SAMPLES
    assert [s.name for s in inputs.stats] == list(PARAMS)
    assert inputs.meta['head']['class_ids'] == [0, 1]
    for s in inputs.stats:
        assert s.layer == PARAMS[s.name][0]
        assert torch.equal(s.h_a, head['h'][s.name])
        assert torch.equal(s.v_b, tail['v'][s.name])
        assert torch.equal(s.k, cross['k'][s.name])
        assert torch.allclose(s.delta,
                              head['params'][s.name] - tail['params'][s.name])
        assert s.sgd_noise is None
    no_cross = load_stats(artifacts['head'], artifacts['tail'])
    assert all(s.k is None for s in no_cross.stats)
    paper = inputs.for_variant('paper')
    assert all(p.h_a is s.v_a and p.v_a is None and p.k is None
               for p, s in zip(paper, inputs.stats))


def test_train_size_is_the_proxy_n(tmp_path):
    """Statistics averaged over a subset keep the training set's N."""
    paths = {}
    for task, seed in (('head', 1), ('tail', 2)):
        paths[task] = str(tmp_path / f'{task}.pth')
        torch.save(
            task_file(task, seed, train_size=5 * NUM_SAMPLES), paths[task])
    inputs = load_stats(paths['head'], paths['tail'])
    assert inputs.num_samples == 5 * NUM_SAMPLES
    result = run_search(paths['head'], paths['tail'])
    assert result['N'] == 5 * NUM_SAMPLES
    # the cross file still pairs with the averaging count
    cross = str(tmp_path / 'cross.pth')
    torch.save(cross_file(), cross)
    assert load_stats(paths['head'], paths['tail'], cross).num_samples == \
        5 * NUM_SAMPLES
    # train_size must agree, and be in both files or in none
    other = str(tmp_path / 'other.pth')
    torch.save(task_file('tail', 2, train_size=7), other)
    with pytest.raises(ValueError, match='train_size'):
        load_stats(paths['head'], other)
    torch.save(task_file('tail', 2), other)
    with pytest.raises(ValueError, match=f'{other}: no train_size'):
        load_stats(paths['head'], other)


def test_sgd_noise_summed(tmp_path, artifacts):
    noise = {n: torch.full(s, 0.25) for n, (_, s) in PARAMS.items()}
    head = tmp_path / 'noisy_head.pth'
    tail = tmp_path / 'noisy_tail.pth'
    torch.save(task_file('head', 1, sgd_noise=noise), head)
    torch.save(task_file('tail', 2, sgd_noise=noise), tail)
    inputs = load_stats(str(head), str(tail))
    assert all(
        torch.equal(s.sgd_noise, torch.full_like(s.h_a, 0.5))
        for s in inputs.stats)


def _expect_error(artifacts, tmp_path, head=None, tail=None, cross=None):
    """Write replaced files and return the load_stats error message."""
    paths = dict(artifacts)
    for key, obj in (('head', head), ('tail', tail), ('cross', cross)):
        if obj is not None:
            paths[key] = str(tmp_path / f'bad_{key}.pth')
            torch.save(obj, paths[key])
    with pytest.raises(ValueError) as info:
        load_stats(paths['head'], paths['tail'], paths['cross'])
    return str(info.value), paths


@pytest.mark.parametrize('which,obj,key', [
    ('tail', task_file('tail', 2, num_samples=999), 'num_samples'),
    ('tail', task_file('tail', 2, num_layers=3), 'num_layers'),
    ('tail',
     task_file(
         'tail',
         2,
         param_layers={
             **{
                 n: layer
                 for n, (layer, _) in PARAMS.items()
             }, 'backbone.layers.1.weight': 1
         }), 'backbone.layers.1.weight'),
    ('tail',
     task_file(
         'tail',
         2,
         params={
             n: torch.zeros((5, ) if n == 'backbone.layers.0.weight' else s)
             for n, (_, s) in PARAMS.items()
         },
         v={
             n: torch.ones((5, ) if n == 'backbone.layers.0.weight' else s)
             for n, (_, s) in PARAMS.items()
         },
         h={
             n: torch.ones((5, ) if n == 'backbone.layers.0.weight' else s)
             for n, (_, s) in PARAMS.items()
         }), 'backbone.layers.0.weight'),
    ('head',
     task_file(
         'head',
         1,
         v={
             n: torch.ones(s)
             for n, (_, s) in list(PARAMS.items())[1:]
         }), 'backbone.patch_embed.weight'),
    ('head', task_file('tail', 1), "task is 'tail'"),
    ('head', task_file('head', 1, format_version=2), 'format_version'),
    ('tail', task_file('tail', 2, train_size=0), 'train_size'),
    ('cross', cross_file(num_samples=5), 'num_samples'),
    ('cross', cross_file(k={'backbone.layers.0.weight': torch.zeros(4)}),
     'backbone.patch_embed.weight'),
])
def test_incompatible_artifacts(tmp_path, artifacts, which, obj, key):
    message, paths = _expect_error(artifacts, tmp_path, **{which: obj})
    assert paths[which] in message and key in message


def test_parameter_name_mismatch_names_key(tmp_path, artifacts):
    extra = task_file('tail', 2)
    for part in ('params', 'v', 'h'):
        extra[part]['extra.bias'] = torch.zeros(2)
    extra['param_layers']['extra.bias'] = 1
    message, paths = _expect_error(artifacts, tmp_path, tail=extra)
    assert paths['tail'] in message and "'extra.bias'" in message


def test_missing_key_and_bad_file(tmp_path, artifacts):
    obj = task_file('head', 1)
    del obj['h']
    message, paths = _expect_error(artifacts, tmp_path, head=obj)
    assert paths['head'] in message and "missing key 'h'" in message
    junk = tmp_path / 'junk.pth'
    junk.write_text('not a torch file')
    with pytest.raises(ValueError, match='junk.pth'):
        load_stats(str(junk), artifacts['tail'])
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_stats(str(tmp_path / 'nope.pth'), artifacts['tail'])


# ------------------------------------------------ group 0 (never shared)
def _reshaped_head(obj: dict, shape: tuple, seed: int) -> dict:
    """Give the group-0 tensor 'head.fc.weight' another shape."""
    gen = torch.Generator().manual_seed(seed)
    obj['params']['head.fc.weight'] = torch.randn(shape, generator=gen)
    obj['v']['head.fc.weight'] = torch.rand(shape, generator=gen) + 0.5
    obj['h']['head.fc.weight'] = torch.rand(shape, generator=gen) + 0.3
    return obj


def _group0_cost(obj: dict, name: str) -> float:
    """One task's decoder variance of a tensor: sum v / (2 N h)."""
    return float((obj['v'][name].double() / obj['h'][name].double()).sum() /
                 (2 * NUM_SAMPLES))


def test_group0_tensors_of_different_shapes(tmp_path, artifacts):
    # The task heads have K // 2 and K - K // 2 outputs.
    tail = _reshaped_head(task_file('tail', 2), (5, ), 7)
    cross = cross_file()
    del cross['k']['head.fc.weight']
    paths = dict(
        artifacts,
        tail=str(tmp_path / 'fisher_tail.pth'),
        cross=str(tmp_path / 'fisher_cross.pth'))
    torch.save(tail, paths['tail'])
    torch.save(cross, paths['cross'])
    head = torch.load(artifacts['head'], weights_only=True)
    inputs = load_stats(paths['head'], paths['tail'], paths['cross'])
    names = [s.name for s in inputs.stats]
    assert names == list(PARAMS)[:-1] + [
        'head.fc.weight [head only]', 'head.fc.weight [tail only]'
    ]
    head_only, tail_only = inputs.stats[-2:]
    assert head_only.layer == tail_only.layer == 0
    assert torch.equal(head_only.h_a, head['h']['head.fc.weight'])
    assert torch.equal(tail_only.v_b, tail['v']['head.fc.weight'])
    assert not head_only.h_b.any() and not tail_only.h_a.any()
    for variant in ('full', 'paper'):
        result = run_search(
            paths['head'], paths['tail'], paths['cross'], variant=variant)
        assert 0 <= result['chosen']['C'] <= 2
    # Group 0 costs each task's own decoder variance, nothing else.
    grid = proxy_grid(inputs.stats, 2, NUM_SAMPLES, [0.5])
    body = [s for s in inputs.stats if s.layer > 0]
    body_grid = proxy_grid(body, 2, NUM_SAMPLES, [0.5])
    extra = _group0_cost(head, 'head.fc.weight') + _group0_cost(
        tail, 'head.fc.weight')
    assert torch.allclose(grid.proxy, body_grid.proxy + extra, rtol=1e-12)


def test_group0_tensor_of_one_task_only(tmp_path, artifacts):
    tail = task_file('tail', 2)
    for part in ('params', 'v', 'h'):
        tail[part]['head.extra.bias'] = torch.full((2, ), 0.5)
    tail['param_layers']['head.extra.bias'] = 0
    path = str(tmp_path / 'fisher_tail.pth')
    torch.save(tail, path)
    inputs = load_stats(artifacts['head'], path, artifacts['cross'])
    last = inputs.stats[-1]
    assert last.name == 'head.extra.bias [tail only]' and last.layer == 0
    assert torch.equal(last.h_b, torch.full((2, ), 0.5))
    # k may not name a tensor that is not in both task files
    cross = cross_file()
    cross['k']['head.extra.bias'] = torch.zeros(2)
    message, paths = _expect_error(
        dict(artifacts, tail=path), tmp_path, cross=cross)
    assert paths['cross'] in message and "'head.extra.bias'" in message


def test_group0_k_is_optional_body_k_is_not(tmp_path, artifacts):
    cross = cross_file()
    del cross['k']['head.fc.weight']  # paired group-0 tensor: optional
    path = str(tmp_path / 'fisher_cross.pth')
    torch.save(cross, path)
    inputs = load_stats(artifacts['head'], artifacts['tail'], path)
    by_name = {s.name: s for s in inputs.stats}
    assert by_name['head.fc.weight'].k is None
    assert by_name['backbone.layers.1.weight'].k is not None


def test_body_tensor_in_one_task_only_is_an_error(tmp_path, artifacts):
    tail = task_file('tail', 2)
    for part in ('params', 'v', 'h'):
        del tail[part]['backbone.layers.1.weight']
    del tail['param_layers']['backbone.layers.1.weight']
    message, paths = _expect_error(artifacts, tmp_path, tail=tail)
    assert paths['tail'] in message
    assert "'backbone.layers.1.weight'" in message and 'body' in message


@pytest.mark.parametrize('meta,message', [
    (dict(fingerprint='other'), "meta 'fingerprint' differs"),
    (dict(num_classes=5), "meta 'num_classes' differs"),
    (dict(class_ids=[1, 3]), 'do not split the 4 classes'),
])
def test_statistics_of_another_model_or_split(tmp_path, artifacts, meta,
                                              message):
    tail = task_file('tail', 2)
    tail['meta'] = dict(tail['meta'], **meta)
    error, paths = _expect_error(artifacts, tmp_path, tail=tail)
    assert message in error and paths['tail'] in error


# ---------------------------------------------------- the typed pair
def test_pair_of_typed_files(artifacts):
    pair = TaskStatsPair.load(artifacts['head'], artifacts['tail'],
                              artifacts['cross'])
    assert pair.head.path == artifacts['head']
    assert pair.cross.path == artifacts['cross']
    both, tail_only = pair.names()
    assert both == list(PARAMS) and tail_only == []
    assert set(pair.cross_k()) == set(PARAMS)
    inputs = ProxyInputs.from_pair(pair)
    assert inputs.paths == artifacts
    assert [s.name for s in inputs.stats] == list(PARAMS)
    built = TaskStatsPair(
        TaskStats.from_dict(task_file('head', 1)),
        TaskStats.from_dict(task_file('tail', 2)))
    assert built.cross_k() is None


@pytest.mark.parametrize('head,tail,message', [
    (task_file('head', 1), task_file('tail', 2, num_samples=5),
     'tail.pth: num_samples = 5 differs from head.pth'),
    (task_file('head', 1, train_size=9), task_file(
        'tail', 2), 'tail.pth: no train_size, but head.pth has one'),
    (task_file('tail', 1), task_file(
        'tail', 2), "head.pth: task is 'tail', expected 'head'"),
])
def test_pair_errors_are_one_line_naming_the_file(head, tail, message):
    files = [
        TaskStats.from_dict(obj, path)
        for obj, path in ((head, 'head.pth'), (tail, 'tail.pth'))
    ]
    with pytest.raises(ValueError) as info:
        TaskStatsPair(*files)
    assert message in str(info.value) and '\n' not in str(info.value)


def test_cross_file_must_match_the_pair():
    pair = TaskStatsPair(
        TaskStats.from_dict(task_file('head', 1), 'head.pth'),
        TaskStats.from_dict(task_file('tail', 2), 'tail.pth'))
    cross = CrossStats.from_dict(cross_file(num_samples=3), 'cross.pth')
    with pytest.raises(ValueError) as info:
        replace(pair, cross=cross)
    assert str(info.value).startswith('cross.pth: num_samples = 3 differs')
    assert '\n' not in str(info.value)
