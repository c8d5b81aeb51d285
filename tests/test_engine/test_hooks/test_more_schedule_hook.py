"""MOREScheduleHook in a real mmengine Runner: the schedule survives
--resume, and merged.pth is written after training."""
import math
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import IterBasedTrainLoop, Runner
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.engine.hooks import MOREScheduleHook
from mmpretrain_osdtw.models.more import merge_state_dict

NUM_CLASSES = 3
LABELS = [0] * 6 + [1] * 4 + [2] * 2  # 12 samples, batch 4: 3 iters/epoch
ITERS_PER_EPOCH = 3
MAX_EPOCHS = 4
AMPLITUDE = 0.5  # A'; the peak is A' K = 1.5
MODEL = dict(
    type='MOREClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=16, num_layers=1, num_heads=2, feedforward_channels=16),
        img_size=8,
        patch_size=4),
    head=dict(
        type='VisionTransformerClsHead',
        num_classes=NUM_CLASSES,
        in_channels=16),
    rank=2)


class TinyDataset(torch.utils.data.Dataset):
    """12 random 8x8 images with long-tailed labels, held in memory."""

    metainfo = dict(classes=('a', 'b', 'c'))
    class_counts = np.bincount(LABELS, minlength=NUM_CLASSES)

    def __init__(self):
        gen = torch.Generator().manual_seed(0)
        self.images = torch.rand(len(LABELS), 3, 8, 8, generator=gen) * 255

    def __len__(self):
        return len(LABELS)

    def __getitem__(self, index):
        sample = DataSample().set_gt_label(LABELS[index])
        return dict(inputs=self.images[index], data_samples=sample)


class AlphaRecorder(Hook):
    """Record the alpha each training iteration ran with."""

    priority = 'LOW'

    def __init__(self):
        self.alphas = {}

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self.alphas[runner.iter] = runner.model.rebalance_weight
        assert outputs['more_alpha'].item() == pytest.approx(
            runner.model.rebalance_weight)


class StopAfterEpoch(Hook):
    """Stop training after ``epoch`` epochs (as if the job was killed)."""

    def __init__(self, epoch):
        self.epoch = epoch

    def after_train_epoch(self, runner):
        if runner.epoch + 1 >= self.epoch:
            runner.train_loop.stop_training = True


def plain_model():
    cfg = {k: v for k, v in MODEL.items() if k != 'rank'}
    return MODELS.build(dict(cfg, type='ImageClassifier'))


def make_runner(work_dir, hooks, **kwargs):
    torch.manual_seed(0)
    return Runner(
        model=dict(MODEL),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=TinyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=4,
            num_workers=0),
        train_cfg=dict(by_epoch=True, max_epochs=MAX_EPOCHS),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05)),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[
            dict(type='ClassCountsHook'),
            dict(type='MOREScheduleHook', amplitude=AMPLITUDE),
            *hooks,
        ],
        default_scope='mmpretrain',
        experiment_name=f'more_hook_{time.time_ns()}',
        **kwargs)


def expected_alpha(it):
    total = MAX_EPOCHS * ITERS_PER_EPOCH
    return AMPLITUDE * NUM_CLASSES * math.sin(math.pi * it / total)


def test_resume_keeps_the_schedule_and_merges(tmp_path):
    work_dir = tmp_path / 'work'
    first = AlphaRecorder()
    make_runner(work_dir, [first, StopAfterEpoch(2)]).train()
    assert sorted(first.alphas) == list(range(2 * ITERS_PER_EPOCH))
    assert (work_dir / 'epoch_2.pth').is_file()
    assert not (work_dir / 'epoch_3.pth').exists()

    second = AlphaRecorder()
    runner = make_runner(
        work_dir, [second],
        resume=True,
        load_from=str(work_dir / 'epoch_2.pth'))
    runner.train()
    # The resumed run starts at iteration 6, where the schedule left off.
    assert sorted(second.alphas) == list(
        range(2 * ITERS_PER_EPOCH, MAX_EPOCHS * ITERS_PER_EPOCH))
    alphas = {**first.alphas, **second.alphas}
    for it, alpha in alphas.items():
        assert alpha == pytest.approx(expected_alpha(it)), it
    assert alphas[0] == 0.0
    assert max(alphas.values()) == pytest.approx(1.5)  # A' K at T/2

    # after_train wrote the plain (merged) weights of the final model.
    merged = torch.load(work_dir / 'merged.pth', weights_only=False)
    final = torch.load(work_dir / 'epoch_4.pth', weights_only=False)
    expected, layers = merge_state_dict(final['state_dict'])
    assert merged['meta']['more_merge']['merged_layers'] == layers
    assert list(merged['state_dict']) == list(expected)
    plain = plain_model()
    plain.load_state_dict(merged['state_dict'], strict=True)
    assert not [p for p in work_dir.iterdir() if p.suffix == '.tmp']


def test_by_epoch_uses_the_epoch_counter():
    hook = MOREScheduleHook(amplitude=1.0, by_epoch=True)
    model = SimpleNamespace(num_classes=4)
    runner = SimpleNamespace(
        model=model, epoch=2, max_epochs=4, iter=999, max_iters=1000)
    assert hook.alpha(runner) == pytest.approx(4.0)


def test_bad_amplitude_and_shape():
    with pytest.raises(ValueError, match=r'amplitude .*-1\.0'):
        MOREScheduleHook(amplitude=-1.0)
    with pytest.raises(ValueError, match="shape must be one of.*'cos'"):
        MOREScheduleHook(shape='cos')


def test_plain_model_is_rejected():
    plain = plain_model()
    runner = SimpleNamespace(model=plain, train_loop=None)
    with pytest.raises(TypeError, match='needs a MORE model.*ImageClass'):
        MOREScheduleHook().before_train(runner)


def test_by_epoch_needs_an_epoch_based_loop():
    model = MODELS.build(dict(MODEL))
    loop = IterBasedTrainLoop.__new__(IterBasedTrainLoop)
    runner = SimpleNamespace(model=model, train_loop=loop)
    with pytest.raises(ValueError, match='epoch-based train loop'):
        MOREScheduleHook(by_epoch=True).before_train(runner)
