"""Tiny datasets for the dataset tests: labels, fake CIFAR, image folders."""
import os.path as osp
import pickle
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from mmpretrain.datasets import CIFAR10, BaseDataset
from PIL import Image


class LabelOnlyDataset(BaseDataset):
    """A dataset whose samples only hold ``gt_label`` (and an optional image).

    Args:
        labels (Sequence[int]): One label per sample (``None``: no label).
        classes (Sequence[str], optional): Class names; defaults to
            ``max(labels) + 1`` names.
        with_img (bool): Add a 4x4x3 uint8 image to each sample so that
            ``PackInputs`` works.
        no_classes (bool): Build a dataset whose metainfo names no class.
    """

    def __init__(self,
                 labels: Sequence,
                 classes: Optional[Sequence[str]] = None,
                 with_img: bool = False,
                 no_classes: bool = False,
                 **kwargs):
        self._labels = list(labels)
        self._with_img = with_img
        metainfo = None
        if not no_classes:
            if classes is None:
                valid = [x for x in self._labels if isinstance(x, int)]
                classes = [f'c{i}' for i in range(max(valid) + 1)]
            metainfo = dict(classes=tuple(classes))
        kwargs.setdefault('serialize_data', False)
        super().__init__(ann_file='', metainfo=metainfo, **kwargs)

    def load_data_list(self):
        data_list = []
        for i, label in enumerate(self._labels):
            info = {} if label is None else {'gt_label': label}
            if self._with_img:
                info['img'] = np.full((4, 4, 3), i % 256, dtype=np.uint8)
            data_list.append(info)
        return data_list


class UncheckedCIFAR10(CIFAR10):
    """MMPretrain's ``CIFAR10`` without the md5 check of the batch files.

    ``CIFAR10._check_integrity`` compares each file named in the class
    attributes ``train_list``/``test_list`` with its md5; an entry whose md5
    is ``None`` is only checked for existence. The meta file is read only
    when no classes are given, and ``METAINFO`` gives them.
    """

    train_list = [[f'data_batch_{i}', None] for i in range(1, 6)]
    test_list = [['test_batch', None]]


def write_fake_cifar10(root: Path, train_labels: Sequence[int],
                       test_labels: Sequence[int]) -> np.ndarray:
    """Write a tiny ``cifar-10-batches-py`` folder in the pickle format.

    The train labels are spread over ``data_batch_1..5``; image ``j`` of the
    train split is filled with ``j % 256``.

    Returns:
        np.ndarray: The train images, ``(N, 32, 32, 3)`` uint8 (HWC).
    """
    folder = Path(root) / 'cifar-10-batches-py'
    folder.mkdir(parents=True, exist_ok=True)
    train_labels = list(train_labels)
    images = np.stack([
        np.full((3, 32, 32), j % 256, dtype=np.uint8)
        for j in range(len(train_labels))
    ])
    for b, part in enumerate(np.array_split(np.arange(len(train_labels)), 5)):
        entry = {
            'data': images[part].reshape(len(part), -1),
            'labels': [train_labels[j] for j in part],
        }
        with open(folder / f'data_batch_{b + 1}', 'wb') as f:
            pickle.dump(entry, f)
    test = {
        'data': np.zeros((len(test_labels), 3 * 32 * 32), dtype=np.uint8),
        'labels': list(test_labels),
    }
    with open(folder / 'test_batch', 'wb') as f:
        pickle.dump(test, f)
    with open(folder / 'batches.meta', 'wb') as f:
        pickle.dump({'label_names': [f'c{i}' for i in range(10)]}, f)
    return images.transpose(0, 2, 3, 1)


def write_image_folders(root: Path,
                        per_class: Sequence[int],
                        ext: str = '.png') -> str:
    """Write ``per_class[c]`` tiny images into ``root/class_<c>/``.

    Returns:
        str: ``root`` as a string (the ``data_prefix`` of a CustomDataset).
    """
    for c, num in enumerate(per_class):
        folder = Path(root) / f'class_{c}'
        folder.mkdir(parents=True, exist_ok=True)
        for j in range(num):
            pixels = np.full((6, 6, 3), 10 * c + j, dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f'{j:03d}{ext}')
    return osp.join(str(root), '')
