import numpy as np
import pytest
from _shared import shared_path

from mmpretrain_osdtw.datasets import (ImageNetLT, PlacesLT, get_class_counts,
                                       split_head_tail)
from mmpretrain_osdtw.evaluation.metrics import shot_groups


def write_list(path, lines):
    path.write_text(''.join(f'{line}\n' for line in lines))
    return path


def test_reads_official_list_format(tmp_path):
    write_list(tmp_path / 'Places_LT_train.txt', [
        'data_256/a/airfield/1.jpg 0', 'data_256/a/airfield/2.jpg 0',
        'data_256/z/zen_garden/3.jpg 364'
    ])
    ds = PlacesLT(data_root=str(tmp_path), split='train')
    assert len(ds) == 3
    assert ds.get_data_info(2)['img_path'].endswith(
        'data_256/z/zen_garden/3.jpg')
    counts = get_class_counts(ds)
    assert counts.shape == (365, ) and counts[0] == 2 and counts[364] == 1


@pytest.mark.parametrize('line, reason', [
    ('train/n01440764/b.JPEG', "no label (expected '<path> <label>')"),
    ('train/n01440764/b.JPEG four', "the label 'four' is not a whole number"),
])
def test_malformed_line_names_file_line_and_text(tmp_path, line, reason):
    ann = write_list(tmp_path / 'ImageNet_LT_train.txt',
                     ['train/n01440764/a.JPEG 0', '', line])
    with pytest.raises(ValueError) as err:
        ImageNetLT(data_root=str(tmp_path), split='train')
    assert str(err.value) == f'{ann} line 3: {line!r}: {reason}'
    assert ann.read_text().count('\n') == 3  # input left untouched


def test_label_out_of_range_names_line(tmp_path):
    write_list(tmp_path / 'Places_LT_test.txt',
               ['val_256/a.jpg 3', 'val_256/b.jpg 365'])
    with pytest.raises(
            ValueError, match=r"line 2: 'val_256/b\.jpg 365': the label 365 "
            r'is outside 0\.\.364'):
        PlacesLT(data_root=str(tmp_path), split='test')


def test_unknown_split(tmp_path):
    with pytest.raises(ValueError, match="split must be one of"):
        PlacesLT(data_root=str(tmp_path), split='training')


def test_real_places_lt_train_list():
    path = shared_path('data', 'lt_splits', 'places_lt', 'Places_LT_train.txt')
    ds = PlacesLT(data_root=str(path.parent), split='train')
    counts = get_class_counts(ds)
    assert len(ds) == 62500 and counts.max() == 4980 and counts.min() == 5
    groups = shot_groups(counts, many_thr=100, few_thr=20)
    assert [len(groups[g]) for g in ('many', 'medium', 'few')] == \
        [131, 163, 71]
    head, tail = split_head_tail(counts)
    assert (len(head), len(tail)) == (182, 183)
    assert counts[head].min() >= counts[tail].max()


def test_real_imagenet_lt_test_list():
    path = shared_path('data', 'lt_splits', 'imagenet_lt',
                       'ImageNet_LT_test.txt')
    ds = ImageNetLT(data_root=str(path.parent), split='test')
    counts = get_class_counts(ds)
    assert len(ds) == 50000
    assert np.all(counts == 50)
