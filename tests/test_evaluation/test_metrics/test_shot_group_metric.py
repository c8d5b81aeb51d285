import json
import math
import pickle
import socket
import time

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from _shared import shared_path
from mmengine.evaluator import Evaluator
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample
from torch.utils.data import DistributedSampler

from mmpretrain_osdtw.evaluation.metrics import ShotGroupMetric, shot_groups

torch.set_num_threads(1)

# K = 5 classes. Training counts span the groups (default thresholds):
# many (> 100): class 0; medium (20..100): classes 1, 2, 3; few (< 20): 4.
# head/tail split (count descending): head [0, 1], tail [2, 3, 4].
COUNTS = [150, 100, 50, 20, 10]

# (gt, pred_score); comment: full argmax / argmax within the gt's own task
HAND_SAMPLES = [
    (0, [.9, .1, .0, .0, .0]),  # 0 right / 0 right
    (0, [.1, .2, .8, .0, .0]),  # 2 wrong / 1 wrong
    (1, [.3, .4, .0, .0, .9]),  # 4 wrong / 1 right
    (1, [.0, .6, .1, .0, .0]),  # 1 right / 1 right
    (2, [.0, .0, .7, .2, .1]),  # 2 right / 2 right
    (2, [.9, .0, .1, .5, .0]),  # 0 wrong / 3 wrong
    (3, [.8, .0, .1, .3, .2]),  # 0 wrong / 3 right
    (4, [.0, .0, .0, .1, .9]),  # 4 right / 4 right
    (4, [.5, .0, .0, .0, .4]),  # 0 wrong / 4 right
    (4, [.0, .2, .3, .1, .0]),  # 2 wrong / 2 wrong
]
# per class: c0 1/2, c1 1/2, c2 1/2, c3 0/1, c4 1/3
HAND_PER_CLASS = [50.0, 50.0, 50.0, 0.0, 100 / 3]


def as_dicts(samples):
    """Samples as the mmengine Evaluator hands them to a metric."""
    return [
        DataSample().set_gt_label(gt).set_pred_score(
            torch.tensor(score)).to_dict() for gt, score in samples
    ]


def run_metric(samples, size=None, **kwargs):
    kwargs.setdefault('class_counts', COUNTS)
    metric = ShotGroupMetric(**kwargs)
    metric.process(None, as_dicts(samples))
    return metric.evaluate(size or len(samples))


def test_hand_example():
    metrics = run_metric(HAND_SAMPLES)
    assert metrics['lt/top1'] == pytest.approx(40.0)  # samples 1, 4, 5, 8
    assert metrics['lt/per_class_acc'] == pytest.approx(HAND_PER_CLASS)
    assert metrics['lt/mean_class_acc'] == pytest.approx(
        (50 + 50 + 50 + 0 + 100 / 3) / 5)
    assert metrics['lt/many'] == pytest.approx(50.0)
    assert metrics['lt/medium'] == pytest.approx((50 + 50 + 0) / 3)
    assert metrics['lt/few'] == pytest.approx(100 / 3)
    assert metrics['lt/head_acc'] == pytest.approx(50.0)
    assert metrics['lt/tail_acc'] == pytest.approx((50 + 0 + 100 / 3) / 3)
    assert metrics['lt/head_task_acc'] == pytest.approx(75.0)  # 3 of 4
    assert metrics['lt/tail_task_acc'] == pytest.approx(400 / 6)  # 4 of 6
    assert set(metrics) == {
        'lt/top1', 'lt/mean_class_acc', 'lt/many', 'lt/medium', 'lt/few',
        'lt/head_acc', 'lt/tail_acc', 'lt/head_task_acc', 'lt/tail_task_acc',
        'lt/per_class_acc'
    }


def test_custom_thresholds_and_prefix():
    # many (> 50): 0, 1; medium (15..50): 2, 3; few (< 15): 4
    metrics = run_metric(
        HAND_SAMPLES,
        many_thr=50,
        few_thr=15,
        prefix='shots',
        with_per_class=False)
    assert metrics['shots/many'] == pytest.approx(50.0)
    assert metrics['shots/medium'] == pytest.approx(25.0)
    assert metrics['shots/few'] == pytest.approx(100 / 3)
    assert 'shots/per_class_acc' not in metrics


def test_through_the_evaluator_with_data_samples():
    evaluator = Evaluator(
        METRICS.build(dict(type='ShotGroupMetric', class_counts=COUNTS)))
    evaluator.process([
        DataSample().set_gt_label(gt).set_pred_score(torch.tensor(score))
        for gt, score in HAND_SAMPLES
    ])
    metrics = evaluator.evaluate(len(HAND_SAMPLES))
    assert metrics['lt/top1'] == pytest.approx(40.0)
    assert metrics['lt/few'] == pytest.approx(100 / 3)


def test_pred_label_only_samples_skip_task_accuracy():
    metric = ShotGroupMetric(class_counts=COUNTS)
    metric.process(None, [
        DataSample().set_gt_label(gt).set_pred_label(int(
            np.argmax(score))).to_dict() for gt, score in HAND_SAMPLES
    ])
    metrics = metric.evaluate(len(HAND_SAMPLES))
    assert metrics['lt/top1'] == pytest.approx(40.0)
    assert metrics['lt/per_class_acc'] == pytest.approx(HAND_PER_CLASS)
    assert 'lt/head_task_acc' not in metrics


def test_task_accuracy_of_a_single_task_model():
    # a tail-task head scores the head classes 0, 1 with exact zeros
    samples = [
        (0, [0., 0., .5, .2, .1]),  # head sample: no head-task prediction
        (2, [0., 0., .5, .2, .1]),  # tail task -> 2 right
        (4, [0., 0., .1, .2, .6]),  # tail task -> 4 right
        (3, [0., 0., .9, .2, .1]),  # tail task -> 2 wrong
    ]
    metrics = run_metric(samples)
    assert 'lt/head_task_acc' not in metrics
    assert metrics['lt/tail_task_acc'] == pytest.approx(200 / 3)
    # a head sample without a task prediction counts as wrong
    samples.append((1, [.1, .9, 0., 0., 0.]))  # head task -> 1 right
    metrics = run_metric(samples)
    assert metrics['lt/head_task_acc'] == pytest.approx(50.0)


def test_empty_group_and_absent_class():
    # every training count > 100: no medium and no few class
    samples = [(0, [1., 0., 0.]), (1, [1., 0., 0.])]  # class 2 never seen
    metrics = run_metric(samples, class_counts=[300, 200, 150])
    assert 'lt/medium' not in metrics and 'lt/few' not in metrics
    assert metrics['lt/many'] == pytest.approx(50.0)
    per_class = metrics['lt/per_class_acc']
    assert per_class[:2] == [100.0, 0.0] and math.isnan(per_class[2])
    assert metrics['lt/mean_class_acc'] == pytest.approx(50.0)


def test_shot_groups_function():
    groups = shot_groups(np.array([101, 100, 20, 19, 0]), 100, 20)
    assert {
        k: v.tolist()
        for k, v in groups.items()
    } == {
        'many': [0],
        'medium': [1, 2],
        'few': [3, 4]
    }


def test_places_lt_groups():
    path = shared_path('data', 'lt_splits', 'places_lt', 'Places_LT_train.txt')
    labels = [
        int(line.split()[1]) for line in path.read_text().splitlines()
        if line.strip()
    ]
    counts = np.bincount(labels)
    assert len(counts) == 365
    metric = ShotGroupMetric(class_counts=counts)
    sizes = {name: len(ids) for name, ids in metric.groups.items()}
    assert sizes == {'many': 131, 'medium': 163, 'few': 71}
    assert len(metric.task_classes['head']) == 182
    assert len(metric.task_classes['tail']) == 183


def test_counts_from_json(tmp_path):
    path = tmp_path / 'counts.json'
    path.write_text(json.dumps(COUNTS))
    assert run_metric(
        HAND_SAMPLES, class_counts=str(path))['lt/top1'] == pytest.approx(40.0)


def test_missing_counts_raise_a_clear_error():
    metric = ShotGroupMetric()
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        metric.process(None, as_dicts(HAND_SAMPLES))
    with pytest.raises(RuntimeError, match='class_counts='):
        metric.compute_metrics(
            [dict(gt_label=0, pred_label=0, task_pred_label=0)])
    metric.set_class_counts(COUNTS)
    metric.process(None, as_dicts(HAND_SAMPLES))
    assert metric.evaluate(10)['lt/top1'] == pytest.approx(40.0)


def test_bad_inputs():
    metric = ShotGroupMetric(class_counts=COUNTS)
    with pytest.raises(ValueError, match='gt_label 5 is outside 0..4'):
        metric.process(None, as_dicts([(5, [.2] * 5)]))
    with pytest.raises(ValueError, match='pred_score has 3 classes'):
        metric.process(None, as_dicts([(1, [.2] * 3)]))
    with pytest.raises(ValueError, match='no results'):
        metric.compute_metrics([])
    with pytest.raises(ValueError, match='few_thr=50 must not exceed'):
        ShotGroupMetric(many_thr=20, few_thr=50)
    with pytest.raises(ValueError, match='many_thr'):
        ShotGroupMetric(many_thr=-1)
    with pytest.raises(ValueError, match='no training sample'):
        ShotGroupMetric(class_counts=[5, 0, 3])


# ---------------------------------------------------------------- DDP (gloo)
NUM_DDP_SAMPLES = 101


def ddp_samples():
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(
        0, len(COUNTS), (NUM_DDP_SAMPLES, ), generator=generator)
    scores = torch.rand(NUM_DDP_SAMPLES, len(COUNTS), generator=generator)
    # make sample 0 a wrong prediction: counting the sampler's padded copy
    # of it would change the result
    scores[0] = 0
    scores[0, (int(labels[0]) + 1) % len(COUNTS)] = 1
    return [(int(g), s.tolist()) for g, s in zip(labels, scores)]


def ddp_shards():
    """Per-rank sample indices of two scenarios."""
    indices = list(range(NUM_DDP_SAMPLES))
    padded = [
        list(
            DistributedSampler(indices, num_replicas=2, rank=r, shuffle=False))
        for r in range(2)
    ]
    assert len(padded[0]) == len(padded[1]) == 51  # rank 1 repeats sample 0
    uneven = [indices[:70], indices[70:]]
    return dict(padded=padded, uneven=uneven)


def _ddp_worker(rank, port, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=2)
    try:
        samples = ddp_samples()
        results = {}
        for name, shards in ddp_shards().items():
            metric = ShotGroupMetric(
                class_counts=COUNTS, collect_dir=f'{out_dir}/collect_{name}')
            metric.process(None, as_dicts([samples[i] for i in shards[rank]]))
            results[name] = metric.evaluate(NUM_DDP_SAMPLES)
        with open(f'{out_dir}/rank{rank}.pkl', 'wb') as f:
            pickle.dump(results, f)
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_ddp_results_equal_single_process(tmp_path):
    context = mp.start_processes(
        _ddp_worker,
        args=(free_port(), str(tmp_path)),
        nprocs=2,
        join=False,
        start_method='fork')
    deadline = time.monotonic() + 60
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail('the 2-process gloo evaluation did not finish in 60 s')

    samples = ddp_samples()
    expected = run_metric(samples)
    for rank in range(2):  # rank 1 receives rank 0's result by broadcast
        with open(tmp_path / f'rank{rank}.pkl', 'rb') as f:
            results = pickle.load(f)
        for name, metrics in results.items():
            assert metrics.keys() == expected.keys(), name
            for key, value in expected.items():
                np.testing.assert_array_equal(metrics[key], value, err_msg=key)

    # averaging per-rank scores (what exactness avoids) gives another number
    shards = ddp_shards()['uneven']
    per_rank = [run_metric([samples[i] for i in shard]) for shard in shards]
    averaged = np.mean([m['lt/mean_class_acc'] for m in per_rank])
    assert averaged != pytest.approx(expected['lt/mean_class_acc'])
    # counting the padded copy of sample 0 would also change the result
    padded_all = [samples[i] for i in range(NUM_DDP_SAMPLES)] + [samples[0]]
    assert run_metric(padded_all)['lt/top1'] != expected['lt/top1']


# ---------------------------------------------------------------- test NLL
def _head_samples(head, feats, labels):
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    return samples, [s.to_dict() for s in head.predict((feats, ), samples)]


def _nll_metric(kind, counts):
    metric = ShotGroupMetric(
        class_counts=counts, nll=kind, with_per_class=False)
    return metric


def test_softmax_nll_is_the_cross_entropy_of_the_logits():
    from mmpretrain.models.heads import VisionTransformerClsHead
    torch.manual_seed(0)
    counts = [40, 20, 10, 5]
    head = VisionTransformerClsHead(num_classes=4, in_channels=8)
    torch.nn.init.normal_(head.layers.head.weight, std=2.0)
    feats, labels = torch.randn(16, 8), torch.randint(0, 4, (16, ))
    _, outs = _head_samples(head, feats, labels)
    metric = _nll_metric('softmax', counts)
    metric.process(None, outs)
    got = metric.evaluate(16)['lt/nll']
    with torch.no_grad():
        want = torch.nn.functional.cross_entropy(head((feats, )), labels)
    assert got == pytest.approx(float(want), rel=1e-5)


def test_sigmoid_nll_is_the_logit_adjusted_bce_the_head_trains():
    from mmpretrain_osdtw.models.heads import LogitAdjustedBCEHead
    torch.manual_seed(1)
    counts = [40, 20, 10, 5]
    head = LogitAdjustedBCEHead(
        num_classes=4, in_channels=8, class_counts=counts)
    torch.nn.init.normal_(head.layers.head.weight, std=1.0)
    feats, labels = torch.randn(16, 8), torch.randint(0, 4, (16, ))
    samples, outs = _head_samples(head, feats, labels)
    metric = _nll_metric('sigmoid', counts)
    metric.process(None, outs)
    result = metric.evaluate(16)
    # the head's own training loss (sum over classes, batch mean), no
    # Mixup and no smoothing here: the same likelihood
    with torch.no_grad():
        loss = head.loss((feats, ), samples)['loss']
    assert result['lt/nll'] == pytest.approx(float(loss), rel=1e-5)
    target = torch.nn.functional.one_hot(labels, 4).float()
    with torch.no_grad():
        raw = torch.nn.functional.binary_cross_entropy_with_logits(
            head((feats, )), target, reduction='sum') / 16
    assert result['lt/nll_raw'] == pytest.approx(float(raw), rel=1e-5)


def test_nll_is_left_out_unless_asked_and_checks_its_kind():
    result = run_metric(HAND_SAMPLES)
    assert 'lt/nll' not in result and 'lt/nll_raw' not in result
    with pytest.raises(ValueError, match='nll must be one of'):
        ShotGroupMetric(class_counts=COUNTS, nll='bce')


def test_saturated_sigmoid_scores_give_finite_nll():
    metric = _nll_metric('sigmoid', [30, 20, 10])
    metric.process(None, as_dicts([(0, [1.0, 1.0, 0.0])]))
    value = metric.evaluate(1)['lt/nll']
    assert math.isfinite(value) and value > 10
