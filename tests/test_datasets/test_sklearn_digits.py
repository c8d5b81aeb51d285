import numpy as np
import pytest
from mmpretrain.registry import DATASETS
from sklearn.datasets import load_digits

from mmpretrain_osdtw.datasets import (LongTailedDataset, SklearnDigits,
                                       get_class_counts, long_tailed_counts)
from mmpretrain_osdtw.datasets.sklearn_digits import (digits_split_indices,
                                                      digits_to_rgb)


@pytest.fixture(scope='module')
def digits():
    return load_digits()


def test_split_indices_are_fixed_disjoint_and_complete(digits):
    train = digits_split_indices(digits.target, 'train')
    test = digits_split_indices(digits.target, 'test')
    assert len(train) == 1040 and len(test) == 757
    assert not set(train.tolist()) & set(test.tolist())
    assert sorted(train.tolist() + test.tolist()) == list(range(1797))
    assert np.bincount(digits.target[train]).tolist() == [104] * 10
    test_counts = np.bincount(digits.target[test])
    assert test_counts.min() >= 70 and test_counts.max() <= 79
    np.testing.assert_array_equal(train,
                                  digits_split_indices(digits.target, 'train'))
    assert np.all(np.diff(train) > 0)  # scikit-learn's order is kept


def test_train_and_test_datasets(digits):
    train = SklearnDigits(split='train')
    test = SklearnDigits(split='test')
    assert len(train) == 1040 and len(test) == 757
    assert train.metainfo['classes'] == tuple(str(i) for i in range(10))
    assert get_class_counts(train).tolist() == [104] * 10
    info = train.get_data_info(0)
    img = info['img']
    assert img.dtype == np.uint8 and img.shape == (8, 8, 3)
    assert np.array_equal(img[..., 0], img[..., 2])
    index = digits_split_indices(digits.target, 'train')[0]
    expected = np.round(digits.images[index] * 255 / 16).astype(np.uint8)
    np.testing.assert_array_equal(img[..., 1], expected)
    assert info['gt_label'] == digits.target[index]
    assert 'Split: \ttrain' in repr(train)


def test_digits_to_rgb_range():
    rgb = digits_to_rgb(np.array([[[0., 16.], [8., 1.]]]))
    assert rgb.shape == (1, 2, 2, 3)
    assert rgb[0, :, :, 0].tolist() == [[0, 255], [128, 16]]


def test_pipeline_and_registry():
    dataset = DATASETS.build(
        dict(
            type='SklearnDigits',
            split='test',
            pipeline=[dict(type='Resize', scale=16),
                      dict(type='PackInputs')]))
    item = dataset[0]
    assert tuple(item['inputs'].shape) == (3, 16, 16)
    assert item['data_samples'].gt_label.numel() == 1


def test_long_tailed_digits():
    dataset = LongTailedDataset(SklearnDigits(split='train'), imb_ratio=10)
    expected = long_tailed_counts(104, 10, 10)
    assert expected.tolist() == [104, 80, 62, 48, 37, 28, 22, 17, 13, 10]
    assert dataset.class_counts.tolist() == expected.tolist()
    assert len(dataset) == 421
    assert np.bincount(dataset.get_gt_labels()).tolist() == expected.tolist()


def test_bad_split():
    with pytest.raises(ValueError, match="split must be one of.*'val'"):
        SklearnDigits(split='val')
    with pytest.raises(ValueError, match='split must be one of'):
        digits_split_indices(np.array([0, 1]), 'all')
