"""FastRandAugment / FastAutoContrast / FastEqualize: same draws and the
same pixels as MMPretrain's classes (synthetic images)."""
import pickle

import mmcv
import numpy as np
import pytest
from _fast_cases import (assert_same_results, assert_same_state, build,
                         random_images, run)
from mmcv.transforms.utils import cache_random_params
from mmpretrain.datasets.transforms.auto_augment import RANDAUG_POLICIES

from mmpretrain_osdtw.datasets.transforms import (FastRandAugment,
                                                  auto_contrast_uint8,
                                                  equalize_uint8)

HPARAMS = dict(pad_val=[125, 123, 114])
POLICIES = RANDAUG_POLICIES['timm_increasing']


def randaug(type_name: str, **kwargs) -> dict:
    cfg = dict(
        type=type_name,
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=HPARAMS)
    cfg.update(kwargs)
    return cfg


def test_histogram_bins_are_the_pixel_values():
    # what the bincount tables rely on: np.histogram(im, 256, (0, 255))
    # puts value v in bin v for every uint8 value
    values = np.arange(256, dtype=np.uint8)
    counts = np.histogram(values, 256, (0, 255))[0]
    assert np.array_equal(counts, np.ones(256, dtype=counts.dtype))


@pytest.mark.parametrize('func,ref',
                         [(auto_contrast_uint8, mmcv.auto_contrast),
                          (equalize_uint8, mmcv.imequalize)])
def test_histogram_ops_match_mmcv(func, ref):
    images = random_images(
        60, seed=3) + [
            np.zeros((4, 5, 3), np.uint8),
            np.full((7, 3, 3), 255, np.uint8),
            np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, 2),
        ]
    for img in images:
        expected = ref(img)
        got = func(img)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        assert np.array_equal(got, expected)


@pytest.mark.parametrize(
    'index',
    range(len(POLICIES)),
    ids=[p['type'] + str(i) for i, p in enumerate(POLICIES)])
@pytest.mark.parametrize('std', [0.5, 0., 'inf'])
def test_every_timm_increasing_op(index, std):
    policy = [POLICIES[index]]
    images = random_images(48, seed=index)
    for seed in (0, 1, 2):
        common = dict(policies=policy, num_policies=2, magnitude_std=std)
        ref, ref_state = run(
            build([randaug('RandAugment', **common)]), images, seed)
        fast, fast_state = run(
            build([randaug('FastRandAugment', **common)]), images, seed)
        assert_same_results(ref, fast)
        assert_same_state(ref_state, fast_state)


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(num_policies=1, magnitude_level=3, magnitude_std=0.),
    dict(num_policies=3, magnitude_std='inf', hparams=dict(pad_val=128)),
])
def test_whole_policy_set_matches(kwargs):
    images = random_images(90, seed=7)
    for seed in (0, 5):
        ref, ref_state = run(
            build([randaug('RandAugment', **kwargs)]), images, seed)
        fast, fast_state = run(
            build([randaug('FastRandAugment', **kwargs)]), images, seed)
        assert_same_results(ref, fast)
        assert_same_state(ref_state, fast_state)


@pytest.mark.parametrize('op', ['AutoContrast', 'Equalize'])
def test_other_images_use_mmcv(op):
    # a float image goes to mmcv's function, which fails on it alike
    img = np.random.RandomState(0).uniform(0, 255, (8, 8, 3))
    for type_name in (op, 'Fast' + op):
        with pytest.raises(IndexError):
            run(build([dict(type=type_name, prob=1.)]), [img], 0)


def test_cached_randomness_as_mmpretrain():
    # cache_random_params (e.g. share_random_params) repeats the draws
    img = random_images(1, seed=1)[0]
    ref, fast = build([randaug('RandAugment')
                       ]), build([randaug('FastRandAugment')])
    for pipeline in (ref, fast):
        np.random.seed(4)
        with cache_random_params(pipeline[0]):
            first = pipeline[0](dict(img=img.copy()))['img']
            second = pipeline[0](dict(img=img.copy()))['img']
        assert np.array_equal(first, second)
        pipeline.append(first)
    assert np.array_equal(ref[-1], fast[-1])
    # outside the context the draws are fresh again
    images = random_images(12, seed=2)
    assert_same_results(
        run(ref[:1], images, 3)[0],
        run(fast[:1], images, 3)[0])


def test_pickles_for_worker_processes():
    fast = build([randaug('FastRandAugment')])[0]
    copy = pickle.loads(pickle.dumps(fast))
    assert isinstance(copy, FastRandAugment)
    images = random_images(24, seed=9)
    assert_same_results(run([fast], images, 1)[0], run([copy], images, 1)[0])
    assert copy.random_policy_indices.owner is copy
