"""Shared helpers: random test images and a run of one transform or
pipeline from a fixed NumPy random state (synthetic images)."""
import numpy as np
import torch
from mmengine.registry import init_default_scope
from mmpretrain.registry import TRANSFORMS

init_default_scope('mmpretrain')


def random_images(num: int, seed: int = 0, size: int = 32) -> list:
    """Synthetic ``uint8`` BGR images: uniform noise, low-contrast noise,
    images with a constant channel, two-valued and constant images (the
    edge cases of the histogram operations), and one ``RandomFlip``-style
    non-contiguous view."""
    rng = np.random.RandomState(seed)
    images = []
    for i in range(num):
        kind = i % 6
        if kind == 0:
            img = rng.randint(0, 256, (size, size, 3))
        elif kind == 1:
            low = rng.randint(0, 200)
            img = rng.randint(low, low + rng.randint(1, 56), (size, size, 3))
        elif kind == 2:
            img = rng.randint(0, 256, (size, size, 3))
            img[..., rng.randint(3)] = rng.randint(256)
        elif kind == 3:
            img = rng.choice([rng.randint(128), 128 + rng.randint(128)],
                             size=(size, size, 3))
        elif kind == 4:
            img = np.full((size, size, 3), rng.randint(256))
        else:
            img = rng.randint(0, 256, (size, size + 8, 3))[:, ::-1][:, :size]
        images.append(np.asarray(img).astype(np.uint8))
    images[-1] = np.flip(images[-1], axis=1)  # a view with negative strides
    return images


def build(cfgs: list) -> list:
    return [TRANSFORMS.build(cfg) for cfg in cfgs]


def run(pipeline: list, images: list, seed: int) -> tuple:
    """Each image through ``pipeline`` from ``np.random.seed(seed)``;
    returns the results and the random state after the last image."""
    np.random.seed(seed)
    outs = []
    for img in images:
        results = dict(
            img=img.copy(),
            img_shape=img.shape[:2],
            ori_shape=img.shape[:2],
            gt_label=int(img[0, 0, 0]) % 10,
            sample_idx=len(outs))
        for transform in pipeline:
            results = transform(results)
        outs.append(results)
    return outs, np.random.get_state()


def assert_same_results(ref: list, fast: list):
    """Same keys, same pixels, dtype and shape, same everything else."""
    assert len(ref) == len(fast)
    for i, (a, b) in enumerate(zip(ref, fast)):
        assert a.keys() == b.keys(), i
        for key in a:
            x, y = a[key], b[key]
            if isinstance(x, np.ndarray):
                assert x.dtype == y.dtype and x.shape == y.shape, (i, key)
                assert np.array_equal(x, y), (i, key)
            elif isinstance(x, torch.Tensor):
                assert x.dtype == y.dtype and torch.equal(x, y), (i, key)
            elif key == 'data_samples':
                assert x.metainfo == y.metainfo, i
                assert torch.equal(x.gt_label, y.gt_label), i
            else:
                assert x == y and type(x) is type(y), (i, key)


def assert_same_state(a, b):
    assert a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]
