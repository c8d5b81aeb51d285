import json

import numpy as np
import pytest
import torch
from _shared import shared_path
from _toy_datasets import (LabelOnlyDataset, UncheckedCIFAR10,
                           write_fake_cifar10, write_image_folders)
from mmengine.dataset import ClassBalancedDataset, ConcatDataset, RepeatDataset
from mmpretrain.datasets import CustomDataset, ImageNet

from mmpretrain_osdtw.datasets import (LongTailedDataset, get_class_counts,
                                       get_labels, load_class_counts)


# ------------------------------------------------------ load_class_counts
@pytest.mark.parametrize('source', [[3, 0, 7], (3, 0, 7),
                                    np.array([3, 0, 7]), [3.0, 0, 7],
                                    torch.tensor([3, 0, 7])])
def test_load_class_counts_sequences(source):
    counts = load_class_counts(source)
    assert counts.dtype == np.int64
    assert counts.tolist() == [3, 0, 7]


def test_load_class_counts_json(tmp_path):
    path = tmp_path / 'counts.json'
    path.write_text(json.dumps([10, 5, 1]))
    assert load_class_counts(str(path)).tolist() == [10, 5, 1]
    assert load_class_counts(path).tolist() == [10, 5, 1]


def test_load_class_counts_imagenet_lt():
    path = shared_path('data', 'lt_splits', 'imagenet_lt',
                       'ImageNet_LT_train_class_counts.json')
    counts = load_class_counts(path)
    assert len(counts) == 1000
    assert counts.sum() == 115846
    assert (counts.max(), counts.min()) == (1280, 5)


@pytest.mark.parametrize('source, match', [
    ([3, -1, 2], 'entry 1'),
    ([3, 1.5], 'entry 1'),
    ([True, 2], 'entry 0'),
    (['3', 2], 'entry 0'),
    ([], 'empty'),
    (np.zeros((2, 2), dtype=int), '1-D'),
])
def test_load_class_counts_bad_values(source, match):
    with pytest.raises(ValueError, match=match):
        load_class_counts(source)


def test_load_class_counts_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.json'):
        load_class_counts(str(tmp_path / 'missing.json'))
    bad = tmp_path / 'bad.json'
    bad.write_text('[1, 2,')
    with pytest.raises(ValueError, match='bad.json.*not valid JSON'):
        load_class_counts(str(bad))
    obj = tmp_path / 'obj.json'
    obj.write_text('{"a": 1}')
    with pytest.raises(ValueError, match='obj.json.*JSON list'):
        load_class_counts(str(obj))
    neg = tmp_path / 'neg.json'
    neg.write_text('[4, 2, -3]')
    with pytest.raises(ValueError, match="neg.json.*entry 2 \\(class 2\\)"):
        load_class_counts(str(neg))
    with pytest.raises(TypeError, match='dict'):
        load_class_counts({'a': 1})


# ------------------------------------------------------- get_class_counts
def test_counts_of_label_list_dataset():
    dataset = LabelOnlyDataset([0, 2, 2, 1, 2], classes=['a', 'b', 'c', 'd'])
    counts = get_class_counts(dataset)
    assert counts.dtype == np.int64
    assert counts.tolist() == [1, 1, 3, 0]  # trailing empty class is kept
    assert get_labels(dataset).tolist() == [0, 2, 2, 1, 2]


def test_counts_of_fake_cifar10(tmp_path):
    labels = [i % 10 for i in range(30)] + [3, 3]
    write_fake_cifar10(tmp_path, labels, test_labels=[0, 1])
    dataset = UncheckedCIFAR10(
        data_root=str(tmp_path), split='train', download=False)
    expected = np.bincount(labels, minlength=10)
    assert get_class_counts(dataset).tolist() == expected.tolist()
    test = UncheckedCIFAR10(
        data_root=str(tmp_path), split='test', download=False)
    assert get_class_counts(test).tolist() == [1, 1] + [0] * 8


def test_counts_of_custom_dataset_folders(tmp_path):
    prefix = write_image_folders(tmp_path, [3, 1, 2])
    dataset = CustomDataset(data_prefix=prefix)
    assert get_class_counts(dataset).tolist() == [3, 1, 2]


def test_counts_of_imagenet_ann_file(tmp_path):
    (tmp_path / 'ann.txt').write_text('a/1.JPEG 0\na/2.JPEG 0\nb/1.JPEG 999\n')
    dataset = ImageNet(data_root=str(tmp_path), ann_file='ann.txt')
    counts = get_class_counts(dataset)
    assert len(counts) == 1000
    assert (counts[0], counts[999], counts.sum()) == (2, 1, 3)


def test_counts_of_mmengine_wrappers():
    base = LabelOnlyDataset([0, 1, 1, 2], classes=['a', 'b', 'c'])
    assert get_class_counts(RepeatDataset(base, times=3)).tolist() == [3, 6, 3]
    concat = ConcatDataset(
        [base, LabelOnlyDataset([2, 2], classes=['a', 'b', 'c'])])
    assert get_class_counts(concat).tolist() == [1, 2, 3]
    balanced = ClassBalancedDataset(base, oversample_thr=0.5)
    counts = get_class_counts(balanced)
    assert counts.sum() == len(balanced)
    assert counts[0] >= 2  # the rare classes are repeated


def test_counts_of_our_wrapper_use_class_counts():
    base = LabelOnlyDataset([c for c in range(3) for _ in range(10)])
    wrapped = LongTailedDataset(base, imb_ratio=10)
    assert get_class_counts(wrapped).tolist() == wrapped.class_counts.tolist()
    assert get_class_counts(wrapped).tolist() == [10, 3, 1]


def test_num_classes_argument_and_missing_classes():
    dataset = LabelOnlyDataset([0, 1, 1], no_classes=True)
    with pytest.raises(ValueError, match='names no classes'):
        get_class_counts(dataset)
    assert get_class_counts(dataset, num_classes=4).tolist() == [1, 2, 0, 0]


# ---------------------------------------------------------------- bad inputs
def test_label_out_of_range_names_index_and_label():
    dataset = LabelOnlyDataset([0, 1, 5, 1], classes=['a', 'b'])
    with pytest.raises(ValueError, match='sample 2 has label 5, outside 0..1'):
        get_class_counts(dataset)


def test_label_out_of_range_names_ann_file(tmp_path):
    (tmp_path / 'img').mkdir()
    ann = tmp_path / 'train.txt'
    ann.write_text('x/a.png 0\nx/b.png 1\nx/c.png 7\n')
    dataset = CustomDataset(
        ann_file=str(ann),
        data_prefix=str(tmp_path / 'img'),
        metainfo=dict(classes=('a', 'b', 'c')))
    with pytest.raises(ValueError) as info:
        get_class_counts(dataset)
    message = str(info.value)
    assert 'train.txt' in message and 'sample 2' in message
    assert 'label 7' in message and 'c.png' in message


def test_unlabeled_custom_dataset(tmp_path):
    prefix = write_image_folders(tmp_path, [2, 2])
    dataset = CustomDataset(data_prefix=prefix, with_label=False)
    with pytest.raises(ValueError, match='CustomDataset.*with_label=False'):
        get_class_counts(dataset)
    # also through a wrapper
    with pytest.raises(ValueError, match='with_label=False'):
        get_class_counts(RepeatDataset(dataset, times=2))


def test_missing_and_minus_one_labels():
    with pytest.raises(ValueError, match='sample 1 has no gt_label'):
        get_class_counts(LabelOnlyDataset([0, None, 1], classes=['a', 'b']))
    with pytest.raises(
            ValueError, match='sample 2 has gt_label -1.*unlabeled'):
        get_class_counts(LabelOnlyDataset([0, 1, -1], classes=['a', 'b']))


def test_multi_label_is_rejected():
    dataset = LabelOnlyDataset([0, [0, 1]], classes=['a', 'b'])
    with pytest.raises(ValueError, match='sample 1.*multi-label'):
        get_class_counts(dataset)


def test_tensor_and_array_labels_are_accepted():
    dataset = LabelOnlyDataset(
        [np.int64(1), torch.tensor([0]),
         np.array(1)], classes=['a', 'b'])
    assert get_class_counts(dataset).tolist() == [1, 2]
