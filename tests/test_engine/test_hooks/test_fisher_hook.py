"""Tests of FisherHook: a real Runner on Digits-LT, the search, errors."""
import copy
import logging
import uuid
from types import SimpleNamespace

import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.runner import Runner
from mmpretrain.registry import HOOKS, MODELS
from mmpretrain.structures import DataSample
from torch.utils.data import DataLoader

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.engine.hooks import FisherHook
from mmpretrain_osdtw.osdtw import load_task_stats, run_search
from mmpretrain_osdtw.osdtw.fisher import (body_fingerprint,
                                           cross_fisher_from_configs,
                                           cross_task_statistics,
                                           fisher_dataloader_cfg)

torch.set_num_threads(1)

K = 10
TRAIN_PIPELINE = [
    dict(type='RandomCrop', crop_size=8, padding=1),
    dict(type='PackInputs')
]
TEST_PIPELINE = [dict(type='PackInputs')]
BACKBONE = dict(
    type='VisionTransformer',
    arch=dict(
        embed_dims=16, num_layers=2, num_heads=2, feedforward_channels=32),
    img_size=8,
    patch_size=4)


def model_cfg(task):
    return dict(
        type='ImageClassifier',
        data_preprocessor=dict(
            num_classes=K, mean=[76.0] * 3, std=[96.0] * 3, to_rgb=False),
        backbone=BACKBONE,
        head=dict(
            type='LogitAdjustedBCEHead',
            num_classes=K,
            in_channels=16,
            task=task,
            init_cfg=None))


def runner_cfg(work_dir, task, **hook_kwargs):
    return dict(
        model=model_cfg(task),
        work_dir=str(work_dir),
        experiment_name=f'fisher_hook_{task}_{uuid.uuid4().hex[:8]}',
        train_dataloader=dict(
            batch_size=64,
            num_workers=0,
            dataset=dict(
                type='LongTailedDataset',
                imb_ratio=10,
                dataset=dict(
                    type='SklearnDigits',
                    split='train',
                    pipeline=TRAIN_PIPELINE)),
            sampler=dict(type='DefaultSampler', shuffle=True)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        test_dataloader=dict(
            batch_size=64,
            num_workers=0,
            dataset=dict(
                type='SklearnDigits', split='test', pipeline=TEST_PIPELINE),
            sampler=dict(type='DefaultSampler', shuffle=False)),
        test_cfg=dict(),
        test_evaluator=dict(type='Accuracy'),
        custom_hooks=[
            dict(type='ClassCountsHook'),
            dict(type='FisherHook', chunk_size=64, **hook_kwargs)
        ],
        default_hooks=dict(
            checkpoint=None, logger=dict(type='LoggerHook', interval=100)),
        default_scope='mmpretrain',
        log_level='WARNING',
        randomness=dict(seed=0))


def test_runner_writes_stats_for_search(tmp_path):
    runners = {}
    for task in ('head', 'tail'):
        runner = Runner.from_cfg(runner_cfg(tmp_path / task, task))
        runner.train()
        assert runner.model.training  # the hook restored train mode
        path = tmp_path / task / f'fisher_{task}.pth'
        obj = load_task_stats(str(path), task)
        meta = obj['meta']
        assert obj['num_samples'] == len(runner.train_dataloader.dataset)
        assert obj['train_size'] == obj['num_samples']
        assert meta['source'] == 'FisherHook' and meta['task'] == task
        assert meta['num_classes'] == K and len(meta['class_counts']) == K
        assert meta['fingerprint'] == body_fingerprint(runner.model)
        assert any(bool(t.any()) for t in obj['h'].values())
        runners[task] = runner
    models = {t: r.model for t, r in runners.items()}
    loader = runners['head'].build_dataloader(
        fisher_dataloader_cfg(runners['head'].cfg))
    cross = cross_task_statistics(
        models['head'], models['tail'], loader, chunk_size=64)
    # the same from the configs and checkpoints (as the StageRunner does)
    checkpoints = {}
    for task, model in models.items():
        checkpoints[task] = str(tmp_path / f'{task}.pth')
        torch.save(dict(state_dict=model.state_dict()), checkpoints[task])
    cross_path = str(tmp_path / 'fisher_cross.pth')
    cross_fisher_from_configs(
        {t: (runners[t].cfg, checkpoints[t])
         for t in models},
        cross_path,
        chunk_size=50)
    saved = torch.load(cross_path, weights_only=True)
    assert saved['num_samples'] == cross['num_samples']
    assert saved['meta']['checkpoints'] == checkpoints
    for name, value in cross['k'].items():
        torch.testing.assert_close(
            saved['k'][name], value.float(), rtol=1e-4, atol=1e-9)
    result = run_search(
        str(tmp_path / 'head' / 'fisher_head.pth'),
        str(tmp_path / 'tail' / 'fisher_tail.pth'), cross_path)
    assert 0 <= result['chosen']['C'] <= 2
    assert 0.0 <= result['chosen']['w_A'] <= 1.0
    assert result['N'] == cross['num_samples']


def test_other_fisher_data_keeps_the_training_n(tmp_path):
    held_out = dict(
        batch_size=64,
        num_workers=0,
        dataset=dict(
            type='SklearnDigits', split='test', pipeline=TEST_PIPELINE),
        sampler=dict(type='DefaultSampler', shuffle=False))
    runner = Runner.from_cfg(
        runner_cfg(tmp_path, 'head', dataloader=held_out))
    runner.train()
    obj = load_task_stats(str(tmp_path / 'fisher_head.pth'), 'head')
    assert obj['num_samples'] == len(runner.test_dataloader.dataset)
    assert obj['train_size'] == len(runner.train_dataloader.dataset)
    assert obj['train_size'] != obj['num_samples']


def test_max_samples_averages_over_a_seeded_random_subset(tmp_path):
    stats = {}
    for run in ('a', 'b'):
        runner = Runner.from_cfg(
            runner_cfg(tmp_path / run, 'head', max_samples=50))
        runner.train()
        stats[run] = load_task_stats(
            str(tmp_path / run / 'fisher_head.pth'), 'head')
    obj = stats['a']
    assert obj['num_samples'] == 50
    assert obj['train_size'] == len(runner.train_dataloader.dataset)
    for name, value in obj['v'].items():  # the same seed, the same subset
        assert torch.equal(value, stats['b']['v'][name])
    # a random subset, not the first 50 images in dataset order
    first = FisherHook(
        out_file=str(tmp_path / 'first.pth'),
        max_samples=50,
        dataloader=runner.build_dataloader(fisher_dataloader_cfg(runner.cfg)))
    first.after_train(runner)
    ordered = load_task_stats(str(tmp_path / 'first.pth'), 'head')
    assert ordered['num_samples'] == 50
    assert not all(
        torch.equal(v, ordered['v'][n]) for n, v in obj['v'].items())


def test_fisher_dataloader_cfg():
    cfg = runner_cfg('/tmp/unused', 'head')
    loader = fisher_dataloader_cfg(cfg)
    assert loader['dataset']['dataset']['pipeline'] == TEST_PIPELINE
    assert loader['sampler'] == dict(
        type='DefaultSampler', shuffle=False, round_up=False)
    assert loader['persistent_workers'] is False
    assert fisher_dataloader_cfg(cfg, shuffle=True)['sampler'] == dict(
        type='DefaultSampler', shuffle=True, round_up=False)
    # the config itself is untouched
    assert cfg['train_dataloader']['dataset']['dataset'][
        'pipeline'] == TRAIN_PIPELINE
    val_only = copy.deepcopy(cfg)
    val_only['val_dataloader'] = val_only.pop('test_dataloader')
    assert fisher_dataloader_cfg(
        val_only)['dataset']['dataset']['pipeline'] == TEST_PIPELINE
    del val_only['val_dataloader']
    with pytest.raises(KeyError, match='test_dataloader/val_dataloader'):
        fisher_dataloader_cfg(val_only)
    no_pipeline = copy.deepcopy(cfg)
    del no_pipeline['train_dataloader']['dataset']['dataset']['pipeline']
    with pytest.raises(ValueError, match='no `pipeline`'):
        fisher_dataloader_cfg(no_pipeline)


# ------------------------------------------------------------- errors
def fake_runner(model, tmp_path):
    return SimpleNamespace(
        model=model,
        work_dir=str(tmp_path),
        cfg={},
        seed=0,
        logger=logging.getLogger('test_fisher_hook'))


def tiny_loader(num=4):
    items = [
        dict(
            inputs=torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8),
            data_samples=DataSample(metainfo=dict(sample_idx=i)).set_gt_label(
                i % K)) for i in range(num)
    ]
    return DataLoader(items, batch_size=2, collate_fn=pseudo_collate)


def build_model(task):
    model = MODELS.build(model_cfg(task))
    if task is not None:
        model.head.set_class_counts(list(range(20, 20 + K)))
    return model


def test_head_without_task_is_an_error(tmp_path):
    hook = HOOKS.build(dict(type='FisherHook'))
    runner = fake_runner(build_model(None), tmp_path)
    message = "FisherHook needs a task head \\(task='head' or 'tail'\\)"
    with pytest.raises(ValueError, match=message):
        hook.before_train(runner)
    with pytest.raises(ValueError, match=message):
        hook.after_train(runner)


def test_non_finite_statistics_are_an_error(tmp_path):
    model = build_model('tail')
    with torch.no_grad():
        model.head.layers.head.weight.normal_()
        model.backbone.layers[1].ln2.bias[3] = float('inf')
    hook = FisherHook(dataloader=tiny_loader(), out_file='stats.pth')
    with pytest.raises(
            ValueError,
            match=r"\['backbone\.[\w.]+'\] has \d+ "
            'non-finite entries'):
        hook.after_train(fake_runner(model, tmp_path))
    assert not (tmp_path / 'stats.pth').exists()


def test_all_zero_fisher_is_an_error(tmp_path):
    model = build_model('head')
    for param in model.parameters():  # only the zero-initialised head
        param.requires_grad_(False)
    model.head.layers.head.weight.requires_grad_(True)
    with torch.no_grad():
        model.backbone.ln1.weight.zero_()
        model.backbone.ln1.bias.zero_()  # zero features: zero gradients
    hook = FisherHook(dataloader=tiny_loader())
    with pytest.raises(ValueError, match='zero for every parameter'):
        hook.after_train(fake_runner(model, tmp_path))


@pytest.mark.parametrize('kwargs, key', [
    (dict(out_file='fisher.txt'), 'out_file'),
    (dict(chunk_size=0), 'chunk_size'),
    (dict(num_model_samples=1.5), 'num_model_samples'),
    (dict(seed=-1), 'seed'),
    (dict(max_samples=0), 'max_samples'),
])
def test_bad_arguments(kwargs, key):
    with pytest.raises(ValueError, match=key):
        FisherHook(**kwargs)
