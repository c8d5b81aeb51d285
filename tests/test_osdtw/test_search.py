"""Tests of the OSDTW search: statistics files, search.json, heat map, CLI."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmpretrain_osdtw.osdtw.proxy import make_w_grid, proxy_grid
from mmpretrain_osdtw.osdtw.search import (plot_heatmap, result_grid,
                                           run_search, save_search_json)
from mmpretrain_osdtw.osdtw.stats_format import load_stats

torch.set_num_threads(1)
REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = REPO_ROOT / 'tools' / 'osdtw_search.py'

# a tiny two-layer "model": name -> (layer id, shape)
PARAMS = {
    'backbone.patch_embed.weight': (1, (3, 2)),
    'backbone.layers.0.weight': (1, (4, )),
    'backbone.layers.1.weight': (2, (2, 2)),
    'head.fc.weight': (0, (3, )),
}
NUM_SAMPLES = 1000


def _task_file(task: str, seed: int, **overrides) -> dict:
    gen = torch.Generator().manual_seed(seed)

    def rand(shape):
        return torch.rand(shape, generator=gen)

    obj = dict(
        format_version=1,
        task=task,
        num_samples=NUM_SAMPLES,
        num_layers=2,
        param_layers={
            n: layer
            for n, (layer, _) in PARAMS.items()
        },
        params={
            n: 0.01 * torch.randn(s, generator=gen)
            for n, (_, s) in PARAMS.items()
        },
        v={
            n: rand(s) + 0.5
            for n, (_, s) in PARAMS.items()
        },
        h={
            n: rand(s) + 0.3
            for n, (_, s) in PARAMS.items()
        },
        meta=dict(
            model='ImageClassifier',
            class_ids=[0, 1] if task == 'head' else [2, 3],
            num_classes=4,
            fingerprint='abc'))
    obj.update(overrides)
    return obj


def _cross_file(**overrides) -> dict:
    gen = torch.Generator().manual_seed(3)
    obj = dict(
        format_version=1,
        k={
            n: -0.1 * torch.rand(s, generator=gen)
            for n, (_, s) in PARAMS.items()
        },
        num_samples=NUM_SAMPLES)
    obj.update(overrides)
    return obj


@pytest.fixture
def artifacts(tmp_path):
    paths = {}
    for key, obj in (('head', _task_file('head',
                                         1)), ('tail', _task_file('tail', 2)),
                     ('cross', _cross_file())):
        paths[key] = str(tmp_path / f'fisher_{key}.pth')
        torch.save(obj, paths[key])
    return paths


def _run_cli(*args):
    return subprocess.run(
        [sys.executable, str(TOOL), *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120)


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
            _task_file(task, seed, train_size=5 * NUM_SAMPLES), paths[task])
    inputs = load_stats(paths['head'], paths['tail'])
    assert inputs.num_samples == 5 * NUM_SAMPLES
    result = run_search(paths['head'], paths['tail'])
    assert result['N'] == 5 * NUM_SAMPLES
    # the cross file still pairs with the averaging count
    cross = str(tmp_path / 'cross.pth')
    torch.save(_cross_file(), cross)
    assert load_stats(paths['head'], paths['tail'], cross).num_samples == \
        5 * NUM_SAMPLES
    # train_size must agree, and be in both files or in none
    other = str(tmp_path / 'other.pth')
    torch.save(_task_file('tail', 2, train_size=7), other)
    with pytest.raises(ValueError, match='train_size'):
        load_stats(paths['head'], other)
    torch.save(_task_file('tail', 2), other)
    with pytest.raises(ValueError, match=f'{other}: no train_size'):
        load_stats(paths['head'], other)


def test_sgd_noise_summed(tmp_path, artifacts):
    noise = {n: torch.full(s, 0.25) for n, (_, s) in PARAMS.items()}
    head = tmp_path / 'noisy_head.pth'
    tail = tmp_path / 'noisy_tail.pth'
    torch.save(_task_file('head', 1, sgd_noise=noise), head)
    torch.save(_task_file('tail', 2, sgd_noise=noise), tail)
    inputs = load_stats(str(head), str(tail))
    assert all(
        torch.equal(s.sgd_noise, torch.full_like(s.h_a, 0.5))
        for s in inputs.stats)


@pytest.mark.parametrize('variant', ['full', 'paper'])
def test_run_search_and_outputs(tmp_path, artifacts, variant):
    result = run_search(
        artifacts['head'],
        artifacts['tail'],
        artifacts['cross'],
        w_step=0.05,
        variant=variant)
    inputs = load_stats(artifacts['head'], artifacts['tail'],
                        artifacts['cross'])
    grid = proxy_grid(
        inputs.for_variant(variant),
        2,
        NUM_SAMPLES,
        make_w_grid(0.05),
        variant=variant)
    c, w = grid.argmin()
    assert result['chosen']['C'] == c and result['chosen']['w_A'] == w
    assert result['chosen']['w_B'] == pytest.approx(1 - w)
    assert result['variant'] == variant and result['mismatch'] == 'debiased'
    assert result['N'] == NUM_SAMPLES and result['L'] == 2
    assert len(result['w_grid']) == 21
    assert torch.allclose(
        torch.tensor(result['grid']['proxy'], dtype=torch.float64), grid.proxy)
    for key in ('proxy', 'enc_var', 'enc_bias', 'dec_var'):
        rows = result['grid'][key]
        assert len(rows) == 3 and all(len(r) == 21 for r in rows)
    assert set(result['timings']) >= {'load_s', 'proxy_s', 'total_s'}
    if variant == 'paper':
        assert result['chosen']['w_A'] == 0.5

    out = tmp_path / 'out'
    save_search_json(result, str(out / 'search.json'))
    plot_heatmap(result, str(out / 'proxy_heatmap.png'))
    loaded = json.loads((out / 'search.json').read_text())
    assert loaded == json.loads(json.dumps(result))
    assert torch.allclose(result_grid(loaded).proxy, grid.proxy)
    assert (out / 'proxy_heatmap.png').read_bytes()[:8] == \
        b'\x89PNG\r\n\x1a\n'
    assert sorted(os.listdir(out)) == ['proxy_heatmap.png', 'search.json']


def test_cli_writes_outputs(tmp_path, artifacts):
    out = tmp_path / 'search'
    proc = _run_cli(artifacts['head'], artifacts['tail'], '--cross',
                    artifacts['cross'], '--out-dir', out, '--w-step', '0.1',
                    '--mismatch', 'raw')
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / 'search.json').read_text())
    assert (out / 'proxy_heatmap.png').is_file()
    assert result['mismatch'] == 'raw' and len(result['w_grid']) == 11
    chosen = result['chosen']
    assert f"chosen: C={chosen['C']}  w_A={chosen['w_A']:g}" in proc.stdout
    assert '<- chosen' in proc.stdout


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
    ('tail', _task_file('tail', 2, num_samples=999), 'num_samples'),
    ('tail', _task_file('tail', 2, num_layers=3), 'num_layers'),
    ('tail',
     _task_file(
         'tail',
         2,
         param_layers={
             **{
                 n: layer
                 for n, (layer, _) in PARAMS.items()
             }, 'backbone.layers.1.weight': 1
         }), 'backbone.layers.1.weight'),
    ('tail',
     _task_file(
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
     _task_file(
         'head',
         1,
         v={
             n: torch.ones(s)
             for n, (_, s) in list(PARAMS.items())[1:]
         }), 'backbone.patch_embed.weight'),
    ('head', _task_file('tail', 1), "task is 'tail'"),
    ('head', _task_file('head', 1, format_version=2), 'format_version'),
    ('tail', _task_file('tail', 2, train_size=0), 'train_size'),
    ('cross', _cross_file(num_samples=5), 'num_samples'),
    ('cross', _cross_file(k={'backbone.layers.0.weight': torch.zeros(4)}),
     'backbone.patch_embed.weight'),
])
def test_incompatible_artifacts(tmp_path, artifacts, which, obj, key):
    message, paths = _expect_error(artifacts, tmp_path, **{which: obj})
    assert paths[which] in message and key in message


def test_parameter_name_mismatch_names_key(tmp_path, artifacts):
    extra = _task_file('tail', 2)
    for part in ('params', 'v', 'h'):
        extra[part]['extra.bias'] = torch.zeros(2)
    extra['param_layers']['extra.bias'] = 1
    message, paths = _expect_error(artifacts, tmp_path, tail=extra)
    assert paths['tail'] in message and "'extra.bias'" in message


def test_missing_key_and_bad_file(tmp_path, artifacts):
    obj = _task_file('head', 1)
    del obj['h']
    message, paths = _expect_error(artifacts, tmp_path, head=obj)
    assert paths['head'] in message and "missing key 'h'" in message
    junk = tmp_path / 'junk.pth'
    junk.write_text('not a torch file')
    with pytest.raises(ValueError, match='junk.pth'):
        load_stats(str(junk), artifacts['tail'])
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_stats(str(tmp_path / 'nope.pth'), artifacts['tail'])


def _load_tool():
    spec = importlib.util.spec_from_file_location('osdtw_search_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_incompatible_exit_2(tmp_path, artifacts, capsys):
    bad_tail = tmp_path / 'fisher_tail_bad.pth'
    torch.save(_task_file('tail', 2, num_samples=7), bad_tail)
    code = _load_tool().main(
        [artifacts['head'],
         str(bad_tail), '--out-dir',
         str(tmp_path / 'o1')])
    err = capsys.readouterr().err
    assert code == 2
    assert str(bad_tail) in err and 'num_samples' in err
    assert not (tmp_path / 'o1' / 'search.json').exists()


def test_cli_missing_file_exit_2(tmp_path, artifacts):
    # a real process: exit status 2, a one-line message, no traceback
    proc = _run_cli(artifacts['head'], tmp_path / 'missing.pth', '--out-dir',
                    tmp_path / 'o2')
    assert proc.returncode == 2
    assert 'missing.pth' in proc.stderr and 'Traceback' not in proc.stderr
    proc = _run_cli(artifacts['head'], artifacts['tail'], '--out-dir',
                    tmp_path / 'o3', '--variant', 'bogus')
    assert proc.returncode == 2 and 'invalid choice' in proc.stderr


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
    tail = _reshaped_head(_task_file('tail', 2), (5, ), 7)
    cross = _cross_file()
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
    tail = _task_file('tail', 2)
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
    cross = _cross_file()
    cross['k']['head.extra.bias'] = torch.zeros(2)
    message, paths = _expect_error(
        dict(artifacts, tail=path), tmp_path, cross=cross)
    assert paths['cross'] in message and "'head.extra.bias'" in message


def test_group0_k_is_optional_body_k_is_not(tmp_path, artifacts):
    cross = _cross_file()
    del cross['k']['head.fc.weight']  # paired group-0 tensor: optional
    path = str(tmp_path / 'fisher_cross.pth')
    torch.save(cross, path)
    inputs = load_stats(artifacts['head'], artifacts['tail'], path)
    by_name = {s.name: s for s in inputs.stats}
    assert by_name['head.fc.weight'].k is None
    assert by_name['backbone.layers.1.weight'].k is not None


def test_body_tensor_in_one_task_only_is_an_error(tmp_path, artifacts):
    tail = _task_file('tail', 2)
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
    tail = _task_file('tail', 2)
    tail['meta'] = dict(tail['meta'], **meta)
    error, paths = _expect_error(artifacts, tmp_path, tail=tail)
    assert message in error and paths['tail'] in error
