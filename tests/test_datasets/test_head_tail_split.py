import numpy as np
import pytest
import torch
from _shared import shared_path
from _toy_datasets import LabelOnlyDataset, write_image_folders
from mmengine.dataset import pseudo_collate
from mmpretrain.datasets import CustomDataset
from mmpretrain.models import ClsDataPreprocessor
from mmpretrain.registry import DATASETS

from mmpretrain_osdtw.datasets import (HeadTailSplit, LongTailedDataset,
                                       load_class_counts, split_head_tail,
                                       task_index_map, task_num_classes,
                                       task_target)

PACK = [dict(type='PackInputs')]


def reference_split(counts):
    """The contract's rule, spelled out with ``sorted``."""
    order = sorted(range(len(counts)), key=lambda c: (-counts[c], c))
    k = len(counts) // 2
    return order[:k], order[k:]


# ---------------------------------------------------------------- split rule
@pytest.mark.parametrize('counts, head, tail', [
    ([5, 9], [1], [0]),
    ([5, 5, 5], [0], [1, 2]),
    ([10, 50, 50, 3, 7], [1, 2], [0, 4, 3]),
    ([4, 4, 9, 1, 4, 9, 2], [2, 5, 0], [1, 4, 6, 3]),
])
def test_split_small_cases(counts, head, tail):
    head_ids, tail_ids = split_head_tail(counts)
    assert head_ids.dtype == np.int64 and tail_ids.dtype == np.int64
    assert head_ids.tolist() == head and tail_ids.tolist() == tail


@pytest.mark.parametrize('num_classes', [2, 3, 5, 7, 8, 101])
def test_split_matches_rule_with_ties(num_classes):
    rng = np.random.RandomState(num_classes)
    counts = rng.randint(1, 6, size=num_classes)  # many ties
    head_ids, tail_ids = split_head_tail(counts)
    ref_head, ref_tail = reference_split(counts.tolist())
    assert head_ids.tolist() == ref_head and tail_ids.tolist() == ref_tail
    assert len(head_ids) == num_classes // 2
    assert len(tail_ids) == num_classes - num_classes // 2
    assert sorted(head_ids.tolist() + tail_ids.tolist()) == list(
        range(num_classes))
    assert counts[head_ids].min() >= counts[tail_ids].max()


def test_split_imagenet_lt():
    counts = load_class_counts(
        shared_path('data', 'lt_splits', 'imagenet_lt',
                    'ImageNet_LT_train_class_counts.json'))
    head_ids, tail_ids = split_head_tail(counts)
    assert (len(head_ids), len(tail_ids)) == (500, 500)
    # the head ids are exactly the top-K//2 counts
    assert counts[head_ids].min() >= counts[tail_ids].max()
    assert counts[head_ids].sum() == np.sort(counts)[::-1][:500].sum()
    assert head_ids.tolist() == reference_split(counts.tolist())[0]


def test_split_places_lt():
    path = shared_path('data', 'lt_splits', 'places_lt', 'Places_LT_train.txt')
    labels = [int(line.split()[1]) for line in path.read_text().splitlines()]
    counts = np.bincount(labels, minlength=365)
    assert len(counts) == 365 and counts.sum() == 62500
    head_ids, tail_ids = split_head_tail(counts)
    assert (len(head_ids), len(tail_ids)) == (182, 183)
    assert counts[head_ids].min() >= counts[tail_ids].max()
    assert head_ids.tolist() == reference_split(counts.tolist())[0]


def test_split_bad_inputs():
    with pytest.raises(ValueError, match='class id\\(s\\) 1, 3'):
        split_head_tail([4, 0, 2, 0])
    with pytest.raises(ValueError, match='at least 2 classes, got K=1'):
        split_head_tail([7])
    with pytest.raises(ValueError, match='empty'):
        split_head_tail([])
    with pytest.raises(ValueError, match='entry 1'):
        split_head_tail([3, -2])


# ---------------------------------------------------------------- helpers
def test_task_num_classes():
    assert task_num_classes(1000, 'head') == 500
    assert task_num_classes(365, 'head') == 182
    assert task_num_classes(365, 'tail') == 183
    assert task_num_classes(365, 'both') == 365
    assert task_num_classes(365, None) == 365
    assert task_num_classes(2, 'tail') == 1
    with pytest.raises(ValueError, match="task must be one of.*'medium'"):
        task_num_classes(10, 'medium')
    with pytest.raises(ValueError, match='num_classes >= 2, got 1'):
        task_num_classes(1, 'head')
    with pytest.raises(TypeError, match='num_classes must be an int'):
        task_num_classes(10.0, 'head')


def test_task_index_map_and_target():
    index_map = task_index_map(np.array([3, 1]), 5)
    assert index_map.tolist() == [-1, 1, -1, 0, -1]
    target = task_target(3, index_map)
    assert target.dtype == torch.float32
    assert target.tolist() == [1.0, 0.0]
    assert task_target(1, index_map).tolist() == [0.0, 1.0]
    assert task_target(2, index_map).tolist() == [0.0, 0.0]  # other group
    with pytest.raises(ValueError, match='label 5 is outside 0..4'):
        task_target(5, index_map)


# ---------------------------------------------------------------- wrapper
def make_dataset(counts, **kwargs):
    labels = [c for c, n in enumerate(counts) for _ in range(n)]
    order = np.random.RandomState(0).permutation(len(labels))
    labels = [labels[i] for i in order]
    dataset = LabelOnlyDataset(
        labels,
        classes=[f'c{i}' for i in range(len(counts))],
        with_img=True,
        pipeline=PACK,
        **kwargs)
    return dataset, labels


def test_wrapper_attributes():
    counts = [3, 8, 1, 8, 5]
    dataset, _ = make_dataset(counts)
    split = HeadTailSplit(dataset)
    assert split.class_counts.tolist() == counts
    assert split.head_classes.tolist() == [1, 3]
    assert split.tail_classes.tolist() == [4, 0, 2]
    assert split.class_map('head').tolist() == [1, 3]
    assert split.class_map('tail').tolist() == [4, 0, 2]
    assert split.class_map(None).tolist() == [0, 1, 2, 3, 4]
    assert split.task_index('head').tolist() == [-1, 0, -1, 1, -1]
    assert split.task_index('tail').tolist() == [1, -1, 2, -1, 0]
    assert split.task_index('both').tolist() == [0, 1, 2, 3, 4]
    priors = np.array(counts) / sum(counts)
    np.testing.assert_allclose(split.class_priors(), priors)
    np.testing.assert_allclose(split.class_priors('head'), priors[[1, 3]])
    np.testing.assert_allclose(split.class_priors('tail'), priors[[4, 0, 2]])
    assert split.class_priors('head').sum() + split.class_priors(
        'tail').sum() == pytest.approx(1.0)
    assert [split.task_of_class(c) for c in range(5)] == \
        ['tail', 'head', 'tail', 'head', 'tail']
    assert split.num_classes == 5
    assert split.metainfo['classes'] == ('c0', 'c1', 'c2', 'c3', 'c4')
    with pytest.raises(ValueError, match='class id 5'):
        split.task_of_class(5)
    with pytest.raises(ValueError, match='task must be one of'):
        split.class_map('middle')


@pytest.mark.parametrize('task', ['head', 'tail', 'both'])
def test_wrapper_items_keep_all_samples_and_attach_targets(task):
    counts = [6, 2, 4, 1, 3]
    dataset, labels = make_dataset(counts)
    split = HeadTailSplit(dataset, task=task)
    assert len(split) == len(dataset) == sum(counts)
    fields = {
        'head': ['head_target'],
        'tail': ['tail_target'],
        'both': ['head_target', 'tail_target']
    }[task]
    for i in range(len(split)):
        item = split[i]
        sample = item['data_samples']
        label = labels[i]
        assert sample.gt_label.tolist() == [label]  # same order, same sample
        assert item['inputs'][0, 0, 0] == i
        for name in ('head_target', 'tail_target'):
            assert (name in sample) == (name in fields)
        for name in fields:
            group = name.split('_')[0]
            target = sample.get(name)
            assert target.dtype == torch.float32
            assert len(target) == len(split.class_map(group))
            index = split.task_index(group)[label]
            if index >= 0:
                assert target.sum() == 1 and target[index] == 1
            else:
                assert target.sum() == 0  # sample of the other group
                assert split.task_of_class(label) != group


def test_targets_survive_collate_and_preprocessor():
    dataset, labels = make_dataset([4, 2, 1])
    split = HeadTailSplit(dataset)
    batch = pseudo_collate([split[i] for i in range(4)])
    data = ClsDataPreprocessor(num_classes=3)(batch, training=True)
    for sample, label in zip(data['data_samples'], labels[:4]):
        assert sample.head_target.shape == (1, )
        assert sample.tail_target.shape == (2, )
        expected = torch.zeros(3)
        expected[label] = 1.
        combined = torch.zeros(3)
        combined[split.head_classes] = sample.head_target
        combined[split.tail_classes] = sample.tail_target
        assert torch.equal(combined, expected)


def test_train_class_counts_for_val_set(tmp_path):
    val, _ = make_dataset([2, 2, 2, 2])
    split = HeadTailSplit(val, train_class_counts=[1, 9, 2, 7])
    assert split.head_classes.tolist() == [1, 3]
    assert split.class_counts.tolist() == [2, 2, 2, 2]
    assert split.train_class_counts.tolist() == [1, 9, 2, 7]
    np.testing.assert_allclose(split.class_priors('head'), [9 / 19, 7 / 19])
    path = tmp_path / 'counts.json'
    path.write_text('[1, 9, 2, 7]')
    assert HeadTailSplit(val, train_class_counts=str(path)).head_classes\
        .tolist() == [1, 3]
    with pytest.raises(ValueError, match='train_class_counts has 3 classes'):
        HeadTailSplit(val, train_class_counts=[1, 2, 3])


def test_wrapper_over_long_tailed_from_config():
    split = DATASETS.build(
        dict(
            type='HeadTailSplit',
            task='head',
            dataset=dict(
                type='LongTailedDataset',
                imb_ratio=10,
                dataset=dict(
                    type='SklearnDigits', split='train', pipeline=PACK))))
    assert isinstance(split.dataset, LongTailedDataset)
    assert len(split) == split.class_counts.sum() == 421
    assert split.head_classes.tolist() == [0, 1, 2, 3, 4]
    item = split[len(split) - 1]  # a class-9 (tail) sample
    assert item['data_samples'].head_target.tolist() == [0.] * 5
    assert 'tail_target' not in item['data_samples']


def test_lazy_init():
    dataset, _ = make_dataset([3, 1])
    split = HeadTailSplit(dataset, lazy_init=True)
    assert not split._fully_initialized
    assert 'initialized' in repr(split)
    assert split.head_classes.tolist() == [0]  # forces full_init
    assert 'head classes: 1' in repr(split)


# ---------------------------------------------------------------- bad inputs
def test_wrapper_bad_inputs(tmp_path):
    dataset, _ = make_dataset([3, 1])
    with pytest.raises(ValueError, match='task must be one of'):
        HeadTailSplit(dataset, task=None)
    with pytest.raises(TypeError, match='dataset must be'):
        HeadTailSplit(3)
    zero, _ = make_dataset([3, 0, 2])
    with pytest.raises(
            ValueError, match='no training sample: class id\\(s\\) 1'):
        HeadTailSplit(zero)
    single, _ = make_dataset([3])
    with pytest.raises(ValueError, match='at least 2 classes, got K=1'):
        HeadTailSplit(single)
    prefix = write_image_folders(tmp_path, [2, 2])
    unlabeled = CustomDataset(data_prefix=prefix, with_label=False)
    with pytest.raises(ValueError, match='CustomDataset.*no labels'):
        HeadTailSplit(unlabeled)
    out_of_range = LabelOnlyDataset([0, 1, 2], classes=['a', 'b'])
    with pytest.raises(ValueError, match='sample 2 has label 2'):
        HeadTailSplit(out_of_range)


def test_wrapper_needs_packed_samples():
    dataset = LabelOnlyDataset([0, 1, 1], classes=['a', 'b'])  # no pipeline
    split = HeadTailSplit(dataset)
    with pytest.raises(ValueError, match="'data_samples'.*PackInputs"):
        split[0]
