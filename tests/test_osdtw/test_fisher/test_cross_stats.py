"""The cross-task statistics file: round trip, checks naming the file."""
import pytest
import torch
from _toy_stats import NUM_SAMPLES, PARAMS, cross_file

from mmpretrain_osdtw.osdtw.fisher import LIKELIHOOD, CrossStats
from mmpretrain_osdtw.osdtw.fisher.cross_stats import (load_cross_stats,
                                                       save_cross_stats)

SHAPES = {n: torch.Size(s) for n, (_, s) in PARAMS.items()}
BODY = [n for n, (layer, _) in PARAMS.items() if layer > 0]


def test_round_trip(tmp_path):
    obj = cross_file(meta=dict(source='test'))
    old = tmp_path / 'old_writer.pth'
    torch.save(obj, old)
    cross = CrossStats.load(str(old))
    assert cross.path == str(old) and cross.num_samples == NUM_SAMPLES
    cross.save(str(tmp_path / 'again.pth'))
    again = torch.load(tmp_path / 'again.pth', weights_only=True)
    assert list(again) == ['format_version', 'k', 'num_samples', 'meta']
    assert again['meta'] == dict(source='test')
    for name, value in obj['k'].items():
        assert torch.equal(again['k'][name], value)
    k = load_cross_stats(
        str(old), BODY, SHAPES, NUM_SAMPLES, ['head.fc.weight'])
    assert list(k) == list(PARAMS)


def test_from_statistics_stores_float32_and_meta(tmp_path):
    stats = dict(
        k={'w': torch.ones(2, dtype=torch.float64)},
        num_samples=3,
        meta=dict(fingerprint='abc'))
    path = str(tmp_path / 'fisher_cross.pth')
    save_cross_stats(path, stats, meta=dict(source=('a', 'b')))
    cross = CrossStats.load(path)
    assert cross.k['w'].dtype == torch.float32
    assert cross.meta == dict(
        likelihood=LIKELIHOOD, fingerprint='abc', source=['a', 'b'])
    stats['k']['w'][0] = float('nan')
    with pytest.raises(ValueError, match=r"k\['w'\] has 1 non-finite"):
        CrossStats.from_statistics(stats)


@pytest.mark.parametrize('obj,message', [
    (cross_file(k=[1]), 'k must be a dict of tensors'),
    (cross_file(k={'w': 1.0}), r"k\['w'\] is not a tensor"),
    (cross_file(num_samples=0), 'num_samples must be an int >= 1'),
    (dict(format_version=1, k={}), "missing key 'num_samples'"),
])
def test_invalid_files_are_named(tmp_path, obj, message):
    path = tmp_path / 'fisher_cross.pth'
    torch.save(obj, path)
    with pytest.raises(ValueError, match=message) as info:
        CrossStats.load(str(path))
    assert str(info.value).startswith(f'{path}: ')
    assert '\n' not in str(info.value)


def test_checked_k_against_the_task_files():
    cross = CrossStats.from_dict(cross_file(), 'fisher_cross.pth')
    with pytest.raises(ValueError, match='num_samples = 1000 differs'):
        cross.checked_k(BODY, SHAPES, 7)
    with pytest.raises(
            ValueError,
            match="'head.fc.weight' that is not a "
            'parameter of both task files'):
        cross.checked_k(BODY, SHAPES, NUM_SAMPLES)
    shapes = dict(SHAPES, **{BODY[0]: torch.Size([6])})
    with pytest.raises(
            ValueError,
            match=r'fisher_cross.pth: k\[.+\] has '
            r'shape \(3, 2\), expected \(6,\)'):
        cross.checked_k(BODY, shapes, NUM_SAMPLES, ['head.fc.weight'])
