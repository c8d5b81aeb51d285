"""scikit-learn's bundled handwritten digits: a real dataset with no download.

``sklearn.datasets.load_digits`` ships 1,797 real 8x8 grey images of the
digits 0-9 (174-183 per class) inside scikit-learn. :class:`SklearnDigits`
serves them as an MMPretrain dataset, for smoke tests, examples and CI.

Fixed split (deterministic, documented in the README):

- one ``np.random.RandomState(0)`` shuffles the indices of each class in
  turn, in label order;
- every class gives its first ``n_train = int(0.6 * min_c n_c) = 104``
  shuffled images to ``'train'`` (so the training split is balanced, 1,040
  images, and the CIFAR-LT protocol of
  :class:`~mmpretrain_osdtw.datasets.LongTailedDataset` is well defined on
  it) and the rest (70-79 per class, 757 images) to ``'test'``;
- within a split, samples keep scikit-learn's order.

Pixels (0-16) become ``uint8`` values ``round(v * 255 / 16)``, replicated to
three channels: ``data_info['img']`` is an ``8x8x3`` array, as MMPretrain's
``CIFAR10`` stores its images, so pipelines start without
``LoadImageFromFile``.
"""
from typing import List, Optional, Sequence

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

SPLITS = ('train', 'test')
TRAIN_FRACTION = 0.6
SPLIT_SEED = 0


def digits_split_indices(targets: np.ndarray, split: str) -> np.ndarray:
    """Indices of the ``'train'`` or ``'test'`` split (see module doc).

    Args:
        targets (np.ndarray): Class id of every image, shape ``(N,)``.
        split (str): ``'train'`` or ``'test'``.

    Returns:
        np.ndarray: Sorted ``int64`` indices into ``targets``.
    """
    if split not in SPLITS:
        raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
    targets = np.asarray(targets, dtype=np.int64)
    counts = np.bincount(targets)
    num_train = int(TRAIN_FRACTION * counts.min())
    rng = np.random.RandomState(SPLIT_SEED)
    chosen = []
    for class_id in range(len(counts)):
        idx = np.where(targets == class_id)[0]
        rng.shuffle(idx)
        chosen.append(idx[:num_train] if split == 'train' else idx[num_train:])
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def digits_to_rgb(images: np.ndarray) -> np.ndarray:
    """Convert digit images (values 0-16) to ``uint8`` HxWx3 arrays.

    Args:
        images (np.ndarray): Shape ``(N, H, W)``, values in ``[0, 16]``.

    Returns:
        np.ndarray: ``uint8`` array of shape ``(N, H, W, 3)``.
    """
    gray = np.round(np.asarray(images, dtype=np.float64) * 255. / 16.)
    gray = np.clip(gray, 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=-1)


@DATASETS.register_module()
class SklearnDigits(BaseDataset):
    """scikit-learn's handwritten digits as an MMPretrain dataset.

    Args:
        split (str): ``'train'`` (1,040 images, 104 per class) or ``'test'``
            (757 images). Defaults to ``'train'``.
        metainfo (dict, optional): Meta information. Defaults to None
            (classes ``'0'`` .. ``'9'``).
        pipeline (Sequence): Processing pipeline. Defaults to ``()``.
        **kwargs: Other keyword arguments of MMPretrain's ``BaseDataset``
            (``test_mode``, ``lazy_init``, ``indices``, ...).

    Example:
        >>> dataset = SklearnDigits(split='train')
        >>> len(dataset), dataset.get_data_info(0)['img'].shape
        (1040, (8, 8, 3))
    """

    METAINFO = {'classes': tuple(str(i) for i in range(10))}

    def __init__(self,
                 split: str = 'train',
                 metainfo: Optional[dict] = None,
                 pipeline: Sequence = (),
                 **kwargs):
        if split not in SPLITS:
            raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
        self.split = split
        super().__init__(
            ann_file='', metainfo=metainfo, pipeline=pipeline, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Load the split's images and labels from scikit-learn."""
        from sklearn.datasets import load_digits

        digits = load_digits()
        indices = digits_split_indices(digits.target, self.split)
        images = digits_to_rgb(digits.images[indices])
        return [{
            'img': img,
            'gt_label': int(label)
        } for img, label in zip(images, digits.target[indices])]

    def extra_repr(self) -> List[str]:
        """Extra lines of ``repr``."""
        return [f'Split: \t{self.split}', 'Source: \tsklearn.datasets']
