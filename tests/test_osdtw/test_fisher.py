"""Tests of the stage-1 Fisher statistics (per-sample gradients, v, h, k)."""
import os
import socket
import time
import warnings

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from mmengine.dataset import DefaultSampler, pseudo_collate
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch.utils.data import DataLoader, DistributedSampler

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.models.losses import log_prior_odds_from_counts
from mmpretrain_osdtw.osdtw.fisher import (
    TASK_STREAMS, body_fingerprint, check_statistics, cross_task_statistics,
    fisher_statistics, label_uniforms, param_layer_map, per_sample_task_grads,
    rank_sample_limit, sample_limit)
from mmpretrain_osdtw.osdtw.search import run_search
from mmpretrain_osdtw.osdtw.stats_format import (load_stats, load_task_stats,
                                                 save_cross_stats,
                                                 save_task_stats,
                                                 task_stats_dict)

torch.set_num_threads(1)

K = 5
COUNTS = [50, 20, 10, 90, 30]  # head task [3, 0], tail task [4, 1, 2]
TAU = 0.7
NUM_LAYERS = 2


def build_model(task='head', seed=0, num_layers=NUM_LAYERS):
    """A tiny float64 ViT classifier with a task head and random weights."""
    torch.manual_seed(seed)
    model = MODELS.build(
        dict(
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
                loss=dict(type='LogitAdjustedBCELoss', tau=TAU))))
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


# ------------------------------------------------------------ layer map
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


# ------------------------------------------- per-sample gradients, v, h
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


def test_sample_limit():
    items = make_items(7)
    assert sample_limit(loader(items)) is None
    assert sample_limit(loader(items), 5) == 5
    assert sample_limit(loader(items), 50) == 7
    padded = DefaultSampler(items, shuffle=False, round_up=True)
    padded.rank, padded.world_size = 1, 2  # as on rank 1 of 2
    assert sample_limit(loader(items, 2, padded)) == 3
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match='max_samples'):
            sample_limit(loader(items), bad)


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


# ------------------------------------------------------------- files
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


# ------------------------------------------------------------- errors
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
        task_stats_dict(model, stats)
    zero = dict(v={'a': torch.zeros(2)}, h={'a': torch.ones(2)})
    with pytest.raises(ValueError, match='v is zero for every parameter'):
        check_statistics(zero)


def test_rank_sample_limit():
    items = make_items(7)
    for rank, expected in ((0, 4), (1, 3)):
        sampler = DistributedSampler(items, 2, rank, shuffle=False)
        assert rank_sample_limit(loader(items, 2, sampler)) == expected
        default = DefaultSampler(items, shuffle=False, seed=0)
        default.rank, default.world_size = rank, 2
        assert rank_sample_limit(loader(items, 2, default)) == expected
    unpadded = DefaultSampler(items, shuffle=False, round_up=False, seed=0)
    assert rank_sample_limit(loader(items, 2, unpadded)) is None
    assert rank_sample_limit(loader(items)) is None
    dropping = DistributedSampler(items, 2, 0, shuffle=False, drop_last=True)
    with pytest.raises(ValueError, match='drop_last'):
        rank_sample_limit(loader(items, 2, dropping))


# ------------------------------------------------ distributed (2 x gloo)
def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _ddp_worker(rank, world, port, state_path, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo',
        init_method=f'tcp://127.0.0.1:{port}',
        rank=rank,
        world_size=world)
    try:
        states = torch.load(state_path, weights_only=True)
        models = {}
        for task in ('head', 'tail'):
            models[task] = build_model(task)
            models[task].load_state_dict(states[task])
        items = make_items(7)
        samplers = dict(
            torch=DistributedSampler(items, shuffle=False),
            mmengine=DefaultSampler(items, shuffle=False))
        for name, sampler in samplers.items():
            data = loader(items, 2, sampler)
            stats = fisher_statistics(
                models['tail'],
                data,
                num_model_samples=2,
                seed=3,
                chunk_size=1)
            cross = cross_task_statistics(models['head'], models['tail'], data)
            subset = fisher_statistics(
                models['tail'], data, seed=3, max_samples=5)
            if rank == 0:
                torch.save(
                    dict(stats=stats, cross=cross, subset=subset),
                    os.path.join(out_dir, f'{name}.pth'))
    finally:
        dist.destroy_process_group()


def test_distributed_equals_single_process(tmp_path):
    models = {'head': build_model('head', 1), 'tail': build_model('tail', 2)}
    state_path = str(tmp_path / 'states.pth')
    torch.save({t: m.state_dict() for t, m in models.items()}, state_path)
    items = make_items(7)
    single = fisher_statistics(
        models['tail'], loader(items), num_model_samples=2, seed=3)
    single_k = cross_task_statistics(models['head'], models['tail'],
                                     loader(items))
    # max_samples counts over all ranks: the first 5 of the global order
    first5 = fisher_statistics(models['tail'], loader(items[:5]), seed=3)
    # fork: the children skip re-importing torch/mmpretrain (one thread in
    # the parent, see conftest.py, so forking is safe).
    context = mp.start_processes(
        _ddp_worker,
        args=(2, _free_port(), state_path, str(tmp_path)),
        nprocs=2,
        join=False,
        start_method='fork')
    deadline = time.time() + 120
    while not context.join(timeout=2):
        if time.time() > deadline:
            for proc in context.processes:
                proc.kill()
            pytest.fail('the 2-process Fisher pass did not finish in 120 s')
    for name in ('torch', 'mmengine'):
        out = torch.load(tmp_path / f'{name}.pth', weights_only=False)
        assert out['stats']['num_samples'] == 7
        assert out['cross']['num_samples'] == 7
        assert_close(out['stats']['v'], single['v'], rtol=1e-10)
        assert_close(out['stats']['h'], single['h'], rtol=1e-10)
        assert_close(out['cross']['k'], single_k['k'], rtol=1e-10)
        assert out['subset']['num_samples'] == 5
        assert_close(out['subset']['v'], first5['v'], rtol=1e-10)
        assert_close(out['subset']['h'], first5['h'], rtol=1e-10)
