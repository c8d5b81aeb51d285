"""ImageNet-LT and Places-LT: the official OLTR annotation lists over the
original image folders.

Expected layout (the images are not shipped; the lists are the official
``ImageNet_LT_*.txt`` / ``Places_LT_*.txt`` files)::

    data/imagenet/                      data/places365/
    ├── ImageNet_LT_train.txt           ├── Places_LT_train.txt
    ├── ImageNet_LT_val.txt             ├── Places_LT_val.txt
    ├── ImageNet_LT_test.txt            ├── Places_LT_test.txt
    ├── train/n01440764/*.JPEG          ├── data_256/a/airfield/*.jpg
    └── val/n01440764/*.JPEG            └── val_256/Places365_val_*.jpg

Each list line is ``<path relative to data_root> <label>``.
"""
import os.path as osp
from typing import List

from mmpretrain.datasets import CustomDataset
from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
from mmpretrain.registry import DATASETS

from .annotation_list import list_line_error, parse_list_line
from .categories import PLACES365_CATEGORIES

SPLITS = ('train', 'val', 'test')


class _OLTRListDataset(CustomDataset):
    """A ``path label`` list under ``data_root``, checked line by line."""

    LIST_PREFIX = ''

    def __init__(self,
                 data_root: str = '',
                 split: str = 'train',
                 ann_file: str = '',
                 **kwargs):
        if split not in SPLITS:
            raise ValueError(f'{type(self).__name__}: split must be one of '
                             f'{SPLITS}, got {split!r}')
        self.split = split
        if not ann_file:
            ann_file = f'{self.LIST_PREFIX}_{split}.txt'
        super().__init__(
            data_root=data_root, data_prefix='', ann_file=ann_file, **kwargs)

    def load_data_list(self) -> List[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'{type(self).__name__}: the {self.split} list '
                f'{self.ann_file!r} does not exist (data_root '
                f'{self.data_root!r}; expected layout: see '
                'mmpretrain_osdtw/datasets/lt_benchmarks.py)')
        num_classes = len(self.METAINFO['classes'])
        data_list = []
        with open(self.ann_file, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    path, label = parse_list_line(line, sep=None)
                    if not 0 <= label < num_classes:
                        raise ValueError(f'the label {label} is outside '
                                         f'0..{num_classes - 1}')
                except ValueError as err:
                    raise ValueError(
                        list_line_error(self.ann_file, lineno, line,
                                        str(err))) from None
                data_list.append(
                    dict(
                        img_path=osp.join(self.img_prefix, path),
                        gt_label=label))
        return data_list


@DATASETS.register_module()
class ImageNetLT(_OLTRListDataset):
    """ImageNet-LT (Liu et al., 2019): 115,846 training images of 1,000
    classes (1,280 to 5 per class), balanced val (20/class) and test
    (50/class) lists.

    Args:
        data_root (str): The ImageNet root holding ``train/``, ``val/`` and
            the ``ImageNet_LT_*.txt`` lists.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        ann_file (str): Override the list file (relative to ``data_root``).
        **kwargs: Other arguments of ``CustomDataset`` (pipeline, ...).

    Example:
        >>> ds = ImageNetLT(data_root='data/imagenet', split='train',
        ...                 lazy_init=True)
    """

    METAINFO = {'classes': IMAGENET_CATEGORIES}
    LIST_PREFIX = 'ImageNet_LT'


@DATASETS.register_module()
class PlacesLT(_OLTRListDataset):
    """Places-LT (Liu et al., 2019): 62,500 training images of 365 classes
    (4,980 to 5 per class), balanced val (20/class) and test (100/class).

    Args:
        data_root (str): The Places365 root holding ``data_256/``,
            ``val_256/`` and the ``Places_LT_*.txt`` lists.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        ann_file (str): Override the list file (relative to ``data_root``).
        **kwargs: Other arguments of ``CustomDataset`` (pipeline, ...).
    """

    METAINFO = {'classes': PLACES365_CATEGORIES}
    LIST_PREFIX = 'Places_LT'
