import tarfile

import numpy as np
import pytest
from _shared import shared_path
from _toy_datasets import (LabelOnlyDataset, UncheckedCIFAR10,
                           write_fake_cifar10, write_image_folders)
from mmpretrain.datasets import CustomDataset
from mmpretrain.registry import DATASETS

from mmpretrain_osdtw.datasets import (LongTailedDataset, get_class_counts,
                                       long_tailed_counts,
                                       select_long_tailed_indices,
                                       split_long_tailed_indices)


def balanced_labels(num_classes, per_class):
    """Interleaved labels 0, 1, ..., K-1, 0, 1, ... like CIFAR's order."""
    return np.tile(np.arange(num_classes), per_class).tolist()


def ldam_reference(targets, imb_ratio, imb_type='exp'):
    """LDAM-DRW's CIFAR-LT selection, written from the protocol description:
    global ``np.random.seed(0)``, then per class (label order) shuffle the
    class's indices with ``np.random.shuffle`` and keep the first ``n_i``."""
    targets = np.asarray(targets)
    classes = np.unique(targets)
    num_classes = len(classes)
    img_max = len(targets) / num_classes
    factor = 1. / imb_ratio
    if imb_type == 'exp':
        nums = [
            int(img_max * factor**(i / (num_classes - 1.)))
            for i in range(num_classes)
        ]
    else:
        nums = [int(img_max)] * (num_classes // 2) + [int(img_max * factor)
                                                      ] * (
                                                          num_classes // 2)
    state = np.random.get_state()
    try:
        np.random.seed(0)
        kept = []
        for the_class, num in zip(classes, nums):
            idx = np.where(targets == the_class)[0]
            np.random.shuffle(idx)
            kept.append(idx[:num])
    finally:
        np.random.set_state(state)
    return np.concatenate(kept)


# ---------------------------------------------------------------- profile
@pytest.mark.parametrize('n_max, num_classes, imb_ratio, total', [
    (5000, 10, 100, 12406),
    (5000, 10, 50, 13996),
    (5000, 10, 10, 20431),
    (500, 100, 100, 10847),
    (500, 100, 50, 12608),
    (500, 100, 10, 19573),
    (5000, 10, 1, 50000),
])
def test_exp_profile_totals(n_max, num_classes, imb_ratio, total):
    counts = long_tailed_counts(n_max, num_classes, imb_ratio)
    assert counts.dtype == np.int64
    assert counts.sum() == total
    assert counts[0] == n_max
    assert counts[-1] == int(n_max / imb_ratio)
    assert np.all(np.diff(counts) <= 0)
    formula = [
        int(n_max * imb_ratio**(-i / (num_classes - 1)))
        for i in range(num_classes)
    ]
    assert counts.tolist() == formula


def test_step_profile():
    assert long_tailed_counts(5000, 10, 100, 'step').tolist() == \
        [5000] * 5 + [50] * 5
    # odd K: the extra class is a tail class
    assert long_tailed_counts(100, 5, 10, 'step').tolist() == \
        [100, 100, 10, 10, 10]


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(imb_ratio=0.5), ValueError, 'imb_ratio.*>= 1, got 0.5'),
    (dict(imb_ratio=float('inf')), ValueError, 'imb_ratio'),
    (dict(imb_ratio='100'), TypeError, 'imb_ratio must be a number'),
    (dict(imb_type='linear'), ValueError, "imb_type.*'linear'"),
    (dict(num_classes=1), ValueError, 'at least 2 classes, got K=1'),
    (dict(n_max=10, imb_ratio=100), ValueError,
     'class\\(es\\) 5, 6, 7, 8, 9 would keep no'),
])
def test_profile_bad_inputs(kwargs, error, match):
    args = dict(n_max=5000, num_classes=10, imb_ratio=100, imb_type='exp')
    args.update(kwargs)
    with pytest.raises(error, match=match):
        long_tailed_counts(**args)


# ---------------------------------------------------------------- selection
@pytest.mark.parametrize('num_classes, per_class, imb_ratio, total', [
    (10, 5000, 100, 12406),
    (100, 500, 100, 10847),
])
def test_cifar_lt_sizes_and_ldam_indices(num_classes, per_class, imb_ratio,
                                         total):
    labels = balanced_labels(num_classes, per_class)
    dataset = LongTailedDataset(LabelOnlyDataset(labels), imb_ratio=imb_ratio)
    assert len(dataset) == total
    counts = get_class_counts(dataset)
    assert counts.sum() == total
    assert counts.tolist() == long_tailed_counts(per_class, num_classes,
                                                 imb_ratio).tolist()
    assert np.bincount(dataset.get_gt_labels()).tolist() == counts.tolist()
    np.testing.assert_array_equal(dataset.indices,
                                  ldam_reference(labels, imb_ratio))
    assert dataset.base_class_counts.tolist() == [per_class] * num_classes


def test_step_matches_ldam_for_even_k():
    labels = balanced_labels(10, 40)
    dataset = LongTailedDataset(
        LabelOnlyDataset(labels), imb_ratio=10, imb_type='step')
    assert dataset.class_counts.tolist() == [40] * 5 + [4] * 5
    np.testing.assert_array_equal(dataset.indices,
                                  ldam_reference(labels, 10, 'step'))


def test_seed_changes_choice_not_counts():
    labels = balanced_labels(4, 50)
    a = LongTailedDataset(LabelOnlyDataset(labels), imb_ratio=5, seed=0)
    b = LongTailedDataset(LabelOnlyDataset(labels), imb_ratio=5, seed=1)
    c = LongTailedDataset(LabelOnlyDataset(labels), imb_ratio=5, seed=0)
    assert a.class_counts.tolist() == b.class_counts.tolist()
    assert not np.array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.indices, c.indices)
    assert len(set(a.indices.tolist())) == len(a)  # no duplicates


def test_select_indices_too_few_samples():
    labels = np.array([0] * 5 + [1] * 2)
    with pytest.raises(ValueError, match='class 1 needs 3 but has 2'):
        select_long_tailed_indices(labels, np.array([5, 3]))


def test_items_and_annotations_follow_indices():
    labels = balanced_labels(3, 8)
    base = LabelOnlyDataset(labels, with_img=True)
    dataset = LongTailedDataset(base, imb_ratio=4)
    assert dataset.metainfo['classes'] == ('c0', 'c1', 'c2')
    for i in range(len(dataset)):
        ori = int(dataset.indices[i])
        item = dataset[i]
        assert item['gt_label'] == labels[ori]
        assert item['img'][0, 0, 0] == ori
        assert dataset.get_data_info(i)['gt_label'] == labels[ori]
        assert dataset.get_cat_ids(i) == [labels[ori]]
        assert dataset.get_gt_labels()[i] == labels[ori]


def test_lazy_init_and_registry_build():
    base = LabelOnlyDataset(balanced_labels(3, 10))
    dataset = LongTailedDataset(base, imb_ratio=10, lazy_init=True)
    assert not dataset._fully_initialized
    assert dataset.metainfo['classes'] == ('c0', 'c1', 'c2')
    assert 'initialized' in repr(dataset)
    assert len(dataset) == 10 + 3 + 1  # forces full_init
    built = DATASETS.build(
        dict(
            type='LongTailedDataset',
            dataset=dict(type='SklearnDigits', split='train'),
            imb_ratio=10))
    assert isinstance(built, LongTailedDataset)
    assert len(built) == long_tailed_counts(104, 10, 10).sum()
    assert 'imb_ratio: 10.0' in repr(built)


# ---------------------------------------------------------------- real formats
def test_over_mmpretrain_cifar10_pickle(tmp_path):
    labels = balanced_labels(10, 6)
    images = write_fake_cifar10(tmp_path, labels, test_labels=list(range(10)))
    base = UncheckedCIFAR10(
        data_root=str(tmp_path), split='train', download=False)
    dataset = LongTailedDataset(base, imb_ratio=6)
    expected = long_tailed_counts(6, 10, 6)
    assert dataset.class_counts.tolist() == expected.tolist()
    assert len(dataset) == expected.sum()
    for i in range(len(dataset)):
        ori = int(dataset.indices[i])
        np.testing.assert_array_equal(dataset[i]['img'], images[ori])
        assert dataset[i]['gt_label'] == labels[ori]


def test_over_custom_dataset_folders(tmp_path):
    prefix = write_image_folders(tmp_path, [4, 4, 4])
    pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    dataset = LongTailedDataset(
        dict(type='CustomDataset', data_prefix=prefix, pipeline=pipeline),
        imb_ratio=4)
    assert dataset.class_counts.tolist() == [4, 2, 1]
    item = dataset[len(dataset) - 1]
    assert tuple(item['inputs'].shape) == (3, 6, 6)
    assert item['data_samples'].gt_label.tolist() == [2]


@pytest.fixture(scope='module')
def cifar10_train_names():
    """Names of the train images in the real CIFAR-10 JPEG archive."""
    path = shared_path('data', 'cifar10', 'cifar10_jpeg.tar.gz')
    with tarfile.open(path, 'r:gz') as tar:
        names = [m.name for m in tar if m.isfile()]
    names = [n[2:] if n.startswith('./') else n for n in names]
    return [n[len('train/'):] for n in names if n.startswith('train/')]


def test_real_cifar10_jpeg_lt_sizes(cifar10_train_names, tmp_path):
    classes = sorted({n.split('/')[0] for n in cifar10_train_names})
    assert classes[0] == 'airplane' and len(classes) == 10
    to_label = {c: i for i, c in enumerate(classes)}
    ann = tmp_path / 'train.txt'
    ann.write_text(''.join(f'{n} {to_label[n.split("/")[0]]}\n'
                           for n in cifar10_train_names))
    base = CustomDataset(
        ann_file=str(ann),
        data_prefix=str(tmp_path),
        metainfo=dict(classes=tuple(classes)))
    assert get_class_counts(base).tolist() == [5000] * 10
    for imb_ratio, total in [(100, 12406), (50, 13996), (10, 20431)]:
        dataset = LongTailedDataset(base, imb_ratio=imb_ratio)
        assert len(dataset) == total
        assert dataset.class_counts[-1] == 5000 // imb_ratio
    # The kept images are LDAM-DRW's choice on these labels.
    labels = base.get_gt_labels()
    np.testing.assert_array_equal(dataset.indices, ldam_reference(labels, 10))


# ---------------------------------------------------------------- bad inputs
def test_wrapper_bad_inputs(tmp_path):
    base = LabelOnlyDataset(balanced_labels(3, 10))
    with pytest.raises(ValueError, match='imb_ratio.*got 0.9'):
        LongTailedDataset(base, imb_ratio=0.9)
    with pytest.raises(ValueError, match='imb_type'):
        LongTailedDataset(base, imb_type='cosine')
    with pytest.raises(TypeError, match='seed'):
        LongTailedDataset(base, seed=0.5)
    with pytest.raises(TypeError, match='dataset'):
        LongTailedDataset([1, 2, 3][0])
    one_class = LabelOnlyDataset([0, 0, 0], classes=['only'])
    with pytest.raises(ValueError, match='at least 2 classes.*K=1'):
        LongTailedDataset(one_class)
    out_of_range = LabelOnlyDataset([0, 1, 3], classes=['a', 'b'])
    with pytest.raises(ValueError, match='sample 2 has label 3'):
        LongTailedDataset(out_of_range, imb_ratio=2)
    prefix = write_image_folders(tmp_path, [2, 2])
    unlabeled = CustomDataset(
        data_prefix=prefix,
        with_label=False,
        metainfo=dict(classes=('a', 'b')))
    with pytest.raises(ValueError, match='CustomDataset.*no labels'):
        LongTailedDataset(unlabeled, imb_ratio=2)


def test_class_with_too_few_samples():
    # class 2 has 3 images but the profile asks n_2 = int(10 / 2) = 5
    labels = [0] * 10 + [1] * 10 + [2] * 3
    with pytest.raises(ValueError) as info:
        LongTailedDataset(LabelOnlyDataset(labels), imb_ratio=2)
    message = str(info.value)
    assert 'class 2 needs 5 but has 3' in message
    assert 'LabelOnlyDataset' in message and 'n_max=10' in message
    # an empty class is "too few" as well
    labels = [0] * 10 + [2] * 10
    with pytest.raises(ValueError, match='class 1 needs 3 but has 0'):
        LongTailedDataset(LabelOnlyDataset(labels), imb_ratio=10)


def test_imb_ratio_too_large_for_dataset():
    with pytest.raises(ValueError, match='LabelOnlyDataset.*keep no sample'):
        LongTailedDataset(
            LabelOnlyDataset(balanced_labels(3, 4)), imb_ratio=10)


# ------------------------------------------------ class order, held-out split
def test_class_order_gives_the_counts_to_the_named_classes():
    labels = balanced_labels(4, 50)
    order = [2, 0, 3, 1]
    dataset = LongTailedDataset(
        LabelOnlyDataset(labels), imb_ratio=10, class_order=order)
    profile = long_tailed_counts(50, 4, 10)
    assert dataset.class_counts[order].tolist() == profile.tolist()
    assert dataset.class_counts[2] == 50
    assert np.bincount(dataset.get_gt_labels(),
                       minlength=4).tolist() == dataset.class_counts.tolist()


def test_label_class_order_is_the_protocol():
    labels = balanced_labels(5, 40)
    plain = LongTailedDataset(LabelOnlyDataset(labels), imb_ratio=8)
    ordered = LongTailedDataset(
        LabelOnlyDataset(labels), imb_ratio=8, class_order=range(5))
    assert plain.indices.tolist() == ordered.indices.tolist()


@pytest.mark.parametrize('order', [[0, 1, 1], [0, 1], [0, 1, 3]])
def test_class_order_must_be_a_permutation(order):
    with pytest.raises(ValueError, match='permutation'):
        LongTailedDataset(
            LabelOnlyDataset(balanced_labels(3, 10)),
            imb_ratio=2,
            class_order=order)


def test_heldout_split_is_disjoint_balanced_and_deterministic():
    labels = balanced_labels(4, 50)
    counts = long_tailed_counts(50, 4, 10)  # [50, 23, 10, 5]
    kept = LongTailedDataset(LabelOnlyDataset(labels), imb_ratio=10)
    held = LongTailedDataset(
        LabelOnlyDataset(labels),
        imb_ratio=10,
        split='heldout',
        heldout_per_class=20)
    again = LongTailedDataset(
        LabelOnlyDataset(labels),
        imb_ratio=10,
        split='heldout',
        heldout_per_class=20)
    assert not set(kept.indices.tolist()) & set(held.indices.tolist())
    # class 0 keeps all 50 of its samples: nothing is left out of it
    expected = [min(20, 50 - int(n)) for n in counts]
    assert held.class_counts.tolist() == expected == [0, 20, 20, 20]
    assert held.long_tailed_counts.tolist() == counts.tolist()
    assert held.indices.tolist() == again.indices.tolist()
    gt = np.asarray(labels)[held.indices]
    assert gt.tolist() == held.get_gt_labels().tolist()
    # a larger held-out set extends the smaller one class by class
    more = LongTailedDataset(
        LabelOnlyDataset(labels),
        imb_ratio=10,
        split='heldout',
        heldout_per_class=25)
    for c in range(1, 4):
        small = held.indices[gt == c].tolist()
        assert more.indices[np.asarray(labels)[more.indices] ==
                            c].tolist()[:20] == small
    # the training subset does not change
    assert len(kept) == int(counts.sum())


def test_cifar10_lt_heldout_counts():
    labels = balanced_labels(10, 5000)
    kept, held = split_long_tailed_indices(
        labels, long_tailed_counts(5000, 10, 100), 0, 100)
    assert len(kept) == 12406
    assert np.bincount(np.asarray(labels)[held], minlength=10).tolist() == \
        [0] + [100] * 9


@pytest.mark.parametrize('kwargs, match', [
    (dict(split='val'), 'split'),
    (dict(split='heldout', heldout_per_class=0), 'heldout_per_class'),
])
def test_bad_split_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LongTailedDataset(
            LabelOnlyDataset(balanced_labels(3, 10)), imb_ratio=2, **kwargs)
