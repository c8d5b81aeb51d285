"""FastRandomCrop / FastRandomFlip / FastRandomErasing and the recipe's
whole pipeline: same draws and output as MMPretrain (synthetic images)."""
import pytest
from _fast_cases import (assert_same_results, assert_same_state, build,
                         random_images, run)

from mmpretrain_osdtw.datasets.transforms import DirectRandomMethod

RECIPE = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val=[125, 123, 114])),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=[103.53, 116.28, 123.675],
        fill_std=[57.375, 57.12, 58.395]),
    dict(type='PackInputs'),
]


def fast(cfgs: list) -> list:
    return [
        dict(cfg, type='Fast' +
             cfg['type']) if cfg['type'] != 'PackInputs' else cfg
        for cfg in cfgs
    ]


def assert_same(cfgs: list, images: list, seeds=(0, 1, 2)):
    for seed in seeds:
        ref, ref_state = run(build(cfgs), images, seed)
        got, got_state = run(build(fast(cfgs)), images, seed)
        assert_same_results(ref, got)
        assert_same_state(ref_state, got_state)


def test_recipe_pipeline_matches():
    assert_same(RECIPE, random_images(240, seed=11), seeds=(0, 1, 2, 3))


@pytest.mark.parametrize(
    'cfg', [
        dict(type='RandomCrop', crop_size=32, padding=4),
        dict(type='RandomCrop', crop_size=24),
        dict(type='RandomCrop', crop_size=(20, 28), padding=(2, 3)),
        dict(
            type='RandomCrop',
            crop_size=40,
            pad_if_needed=True,
            pad_val=7,
            padding_mode='reflect'),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='RandomFlip', prob=0.3),
        dict(type='RandomFlip', prob=1.),
        dict(
            type='RandomFlip',
            prob=[0.3, 0.2],
            direction=['horizontal', 'vertical']),
        dict(
            type='RandomFlip',
            prob=0.6,
            direction=['horizontal', 'vertical', 'diagonal']),
        dict(type='RandomErasing', erase_prob=0.5),
        dict(type='RandomErasing', erase_prob=0.9, mode='rand'),
        dict(
            type='RandomErasing',
            erase_prob=0.9,
            mode='rand',
            fill_std=[50., 60., 70.]),
    ],
    ids=lambda cfg: '-'.join(f'{v}' for v in cfg.values()))
def test_single_transform_matches(cfg):
    assert_same([cfg], random_images(60, seed=5))


def test_random_methods_are_direct():
    crop, flip, erase = build(fast(RECIPE[:1] + RECIPE[1:2] + RECIPE[3:4]))
    assert isinstance(crop.__dict__['rand_crop_params'], DirectRandomMethod)
    assert isinstance(flip.__dict__['_choose_direction'], DirectRandomMethod)
    assert isinstance(erase.__dict__['random_patch'], DirectRandomMethod)


def test_direct_method_refuses_plain_methods():
    crop = build([dict(type='FastRandomCrop', crop_size=4)])[0]
    with pytest.raises(TypeError, match='not a cache_randomness method'):
        DirectRandomMethod(crop, 'transform')
