"""Tests of ClassCountsHook with real Runners on Digits-LT."""
import uuid

import pytest
import torch
from mmengine.runner import Runner

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.datasets import LongTailedDataset, SklearnDigits

torch.set_num_threads(1)

K = 10
IMB_RATIO = 10
PIPELINE = [dict(type='PackInputs')]


def expected_counts():
    dataset = LongTailedDataset(
        dataset=SklearnDigits(split='train', pipeline=PIPELINE),
        imb_ratio=IMB_RATIO)
    return dataset.class_counts.tolist()


def runner_cfg(work_dir, hooks=None, train=True, **extra):
    loader = dict(
        batch_size=64,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False))
    cfg = dict(
        model=dict(
            type='ImageClassifier',
            data_preprocessor=dict(
                num_classes=K, mean=[76.0] * 3, std=[96.0] * 3, to_rgb=False),
            backbone=dict(
                type='VisionTransformer',
                arch=dict(
                    embed_dims=16,
                    num_layers=1,
                    num_heads=2,
                    feedforward_channels=32),
                img_size=8,
                patch_size=4),
            head=dict(
                type='LogitAdjustedBCEHead',
                num_classes=K,
                in_channels=16,
                init_cfg=None)),
        work_dir=str(work_dir),
        experiment_name=f'class_counts_{uuid.uuid4().hex[:8]}',
        test_dataloader=dict(
            dataset=dict(
                type='SklearnDigits', split='test', pipeline=PIPELINE),
            **loader),
        test_cfg=dict(),
        test_evaluator=dict(type='ShotGroupMetric', many_thr=100, few_thr=20),
        custom_hooks=hooks
        if hooks is not None else [dict(type='ClassCountsHook')],
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=100)),
        default_scope='mmpretrain',
        log_level='WARNING',
        randomness=dict(seed=0))
    if train:
        cfg.update(
            train_dataloader=dict(
                dataset=dict(
                    type='LongTailedDataset',
                    imb_ratio=IMB_RATIO,
                    dataset=dict(
                        type='SklearnDigits', split='train',
                        pipeline=PIPELINE)),
                **loader),
            train_cfg=dict(by_epoch=True, max_epochs=1),
            optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)))
    cfg.update(extra)
    return cfg


def head_counts(model):
    return model.head.class_counts.tolist()


def test_training_feeds_the_heads_and_the_metric(tmp_path):
    runner = Runner.from_cfg(runner_cfg(tmp_path))
    runner.train()
    assert head_counts(runner.model) == expected_counts()
    metrics = runner.test()
    assert runner.test_evaluator.metrics[0].class_counts.tolist() == \
        expected_counts()
    assert {'lt/many', 'lt/medium', 'lt/few'} <= set(metrics)


def test_explicit_counts_win(tmp_path):
    counts = list(range(10, 110, 10))
    hooks = [dict(type='ClassCountsHook', class_counts=counts)]
    runner = Runner.from_cfg(runner_cfg(tmp_path, hooks))
    runner.train()
    assert head_counts(runner.model) == counts


def test_testing_reads_the_checkpoint_then_the_config(tmp_path):
    Runner.from_cfg(runner_cfg(tmp_path / 'train')).train()
    ckpt = str(tmp_path / 'train' / 'epoch_1.pth')
    saved = torch.load(ckpt, weights_only=False)['state_dict']
    assert saved['head.class_counts'].tolist() == expected_counts()
    # stand-alone test, no train_dataloader: the checkpoint's buffer
    runner = Runner.from_cfg(
        runner_cfg(tmp_path / 'test', train=False, load_from=ckpt))
    runner.test()
    assert head_counts(runner.model) == expected_counts()
    # a model without counts and no train_dataloader: a clear error
    runner = Runner.from_cfg(runner_cfg(tmp_path / 'bare', train=False))
    with pytest.raises(KeyError, match='train_dataloader.dataset'):
        runner.test()


def test_ema_checkpoints_carry_the_counts(tmp_path):
    """EMAHook copies the model in before_run, before ClassCountsHook's
    before_train, and saves the copy's buffers as the checkpoint's
    state_dict; the copy gets the counts because the averaged model copies
    the source's buffers at every update (``update_buffers=False``)."""
    hooks = [
        dict(type='ClassCountsHook'),
        dict(type='EMAHook', momentum=0.1, priority='ABOVE_NORMAL'),
    ]
    runner = Runner.from_cfg(runner_cfg(tmp_path, hooks))
    runner.train()
    ckpt = torch.load(str(tmp_path / 'epoch_1.pth'), weights_only=False)
    assert 'ema_state_dict' in ckpt
    assert ckpt['state_dict']['head.class_counts'].tolist() == \
        expected_counts()
    assert ckpt['ema_state_dict']['module.head.class_counts'].tolist() == \
        expected_counts()
