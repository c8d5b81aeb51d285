"""A dataset wrapper that decodes a file-based dataset's images once.

Small images (CIFAR's 32x32 JPEGs) cost more to read and decode every epoch
than a small ViT takes to train on them. :class:`InMemoryImages` wraps any
dataset whose pipeline starts with ``LoadImageFromFile`` (MMPretrain's
``CustomDataset`` over image folders or an annotation file, ``ImageNet``,
...): at initialisation it runs that loading step once per sample and keeps
the decoded images in one ``(N, H, W[, C])`` array; each ``__getitem__``
serves a copy of the sample's image (as ``LoadImageFromFile`` would have
produced it: same decoder, same channel order, same keys ``img``,
``img_shape``, ``ori_shape``) to the rest of the pipeline.

The wrapped dataset's config keeps its usual ``pipeline`` (loading step
first), so config tools that find or replace a dataset's pipeline through
its ``dataset`` key (e.g. the Fisher pass's test-pipeline loader) work
unchanged: a replaced pipeline that starts with ``LoadImageFromFile`` is
split again when the wrapper is built.

Optional cache (``cache_file``): the decoded images are written once to an
uncompressed ``.npz`` (atomically: a temporary file in the same folder, then
renamed) together with every image's path, file size and modification
time and the loading step's ``repr``; a later build reuses the file only if
all of these still match (else it decodes again and rewrites the file), so
repeated builds (every stage of a pipeline, every DDP rank, every run) skip
the decoding.

Memory: one copy of the decoded images per process that builds the dataset
(CIFAR-10 train: 50,000 x 32 x 32 x 3 bytes = 147 MiB). Dataloader workers
forked after the build share the parent's array (copy-on-write, the array
is only read); each DDP rank decodes its own copy.

MMPretrain's ``CIFAR10``/``CIFAR100`` (the python pickles) already hold
their images in memory and need no wrapper.
"""
import copy
import logging
import os
import os.path as osp
import tempfile
import time
from typing import Callable, List, Optional, Tuple, Union

import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine.dataset import BaseDataset, Compose, force_full_init
from mmengine.logging import print_log
from mmpretrain.registry import DATASETS

from .class_counts import describe_dataset


def split_loading_step(transforms: List[Callable]) -> Tuple[Callable, list]:
    """Split a pipeline into its image-loading step and the rest.

    Args:
        transforms (list[Callable]): The built transforms of a pipeline.

    Returns:
        tuple: ``(load, rest)``: the first transform (a
        ``LoadImageFromFile``) and the list of the following ones.

    Raises:
        ValueError: If the pipeline does not start with
            ``LoadImageFromFile``.
    """
    if not transforms or not isinstance(transforms[0], LoadImageFromFile):
        first = type(transforms[0]).__name__ if transforms else 'nothing'
        raise ValueError(
            'InMemoryImages needs a dataset whose pipeline starts with '
            f'LoadImageFromFile (the step it runs once), but it starts with '
            f'{first}; datasets that already hold their images (e.g. '
            "MMPretrain's CIFAR10/CIFAR100) need no InMemoryImages")
    return transforms[0], list(transforms[1:])


def _describe(dataset) -> str:
    """Name a dataset with its image folder (``data_prefix``) if it has one."""
    name = describe_dataset(dataset)
    prefix = getattr(dataset, 'data_prefix', None)
    if isinstance(prefix, dict) and prefix.get('img_path'):
        name += f" (images in {prefix['img_path']!r})"
    return name


@DATASETS.register_module()
class InMemoryImages:
    """Dataset wrapper: decode every image once, serve it from memory.

    See the module docstring. Labels, ``metainfo`` and annotations
    (``get_data_info``, ``get_gt_labels``, ``get_cat_ids``) are the wrapped
    dataset's; every sample must decode to the same shape and dtype.

    Args:
        dataset (BaseDataset | dict): A dataset (or its config) whose
            pipeline starts with ``LoadImageFromFile``.
        cache_file (str, optional): An ``.npz`` file to keep the decoded
            images in between builds (see the module docstring); a
            relative path is relative to the working directory, like
            ``data_root``. Defaults to None: decode at every build.
        lazy_init (bool): Defer decoding to :meth:`full_init` (or the first
            access). Defaults to False: decode when built, before any
            dataloader worker starts.

    Raises:
        ValueError: If the pipeline does not start with the loading step,
            an image cannot be decoded or its shape differs from the first
            image's (the message names the file).
        FileNotFoundError: If an image file is missing (named).

    Example:
        >>> train_dataloader = dict(dataset=dict(
        ...     type='LongTailedDataset', imb_ratio=100,
        ...     dataset=dict(type='InMemoryImages', dataset=dict(
        ...         type='CustomDataset', data_root='data/cifar10',
        ...         data_prefix='train', pipeline=[
        ...             dict(type='LoadImageFromFile'),
        ...             dict(type='RandomCrop', crop_size=32, padding=4),
        ...             dict(type='PackInputs')]))))
    """

    def __init__(self,
                 dataset: Union[BaseDataset, dict],
                 cache_file: Optional[str] = None,
                 lazy_init: bool = False):
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        transforms = getattr(getattr(dataset, 'pipeline', None), 'transforms',
                             None)
        if transforms is None or not hasattr(dataset, 'get_data_info'):
            raise TypeError(
                'InMemoryImages wraps a dataset with `get_data_info` and a '
                f'`pipeline` (mmengine Compose), got {type(dataset).__name__}')
        self.dataset = dataset
        self.cache_file = None if cache_file is None else str(cache_file)
        self.load_step, rest = split_loading_step(transforms)
        self.pipeline = Compose(rest)
        self._images = None
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """The wrapped dataset's meta information."""
        return copy.deepcopy(self.dataset.metainfo)

    def full_init(self) -> None:
        """Initialise the wrapped dataset and decode its images (once)."""
        if self._fully_initialized:
            return
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        start = time.perf_counter()
        stamp = self._file_stamp() if self.cache_file else None
        self._images = self._read_cache(stamp) if stamp else None
        how = f'read from {self.cache_file}'
        if self._images is None:
            self._images = self._decode_all()
            how = 'decoded'
            if stamp:
                self._write_cache(stamp)
        print_log(
            f'InMemoryImages: {how} {len(self._images)} images of '
            f'{_describe(self.dataset)}: one {self._images.dtype} array '
            f'{tuple(self._images.shape)} '
            f'({self._images.nbytes / 2**20:.0f} MiB) in '
            f'{time.perf_counter() - start:.1f} s',
            logger='current',
            level=logging.INFO)
        self._fully_initialized = True

    def _file_stamp(self) -> dict:
        """What a cache must match: paths, sizes, mtimes, loading step."""
        paths, sizes, mtimes = [], [], []
        for idx in range(len(self.dataset)):
            path = self.dataset.get_data_info(idx).get('img_path')
            if path is None:
                raise ValueError('InMemoryImages: cache_file needs file '
                                 f'paths, but sample {idx} has no img_path')
            try:
                stat = os.stat(path)
            except FileNotFoundError as err:
                raise FileNotFoundError(
                    f'InMemoryImages: image file {path} (sample {idx} of '
                    f'{_describe(self.dataset)}) is missing') from err
            paths.append(str(path))
            sizes.append(stat.st_size)
            mtimes.append(stat.st_mtime_ns)
        return dict(
            paths=np.asarray(paths, dtype=str),
            sizes=np.asarray(sizes, dtype=np.int64),
            mtimes=np.asarray(mtimes, dtype=np.int64),
            load_step=np.asarray(repr(self.load_step)))

    def _read_cache(self, stamp: dict) -> Optional[np.ndarray]:
        """The cached images if the cache matches ``stamp``, else None."""
        if not osp.isfile(self.cache_file):
            return None
        try:
            with np.load(self.cache_file, allow_pickle=False) as cache:
                same = all(
                    key in cache and cache[key].shape == value.shape
                    and np.array_equal(cache[key], value)
                    for key, value in stamp.items())
                images = cache['images'] if same else None
        except (OSError, ValueError, KeyError) as err:
            print_log(
                f'InMemoryImages: ignoring unreadable cache '
                f'{self.cache_file} ({err}); decoding again',
                logger='current',
                level=logging.WARNING)
            return None
        if images is None or len(images) != len(stamp['paths']):
            print_log(
                f'InMemoryImages: cache {self.cache_file} does not match the '
                'image files (names, sizes, times or loading step changed); '
                'decoding again',
                logger='current',
                level=logging.WARNING)
            return None
        return images

    def _write_cache(self, stamp: dict) -> None:
        """Write the images and ``stamp`` atomically to ``cache_file``."""
        folder = osp.dirname(osp.abspath(self.cache_file))
        try:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                dir=folder, prefix='.in_memory_', suffix='.npz.tmp')
            try:
                with os.fdopen(fd, 'wb') as f:
                    np.savez(f, images=self._images, **stamp)
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600
                os.replace(tmp, self.cache_file)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError as err:
            print_log(
                f'InMemoryImages: cannot write the cache {self.cache_file} '
                f'({err}); continuing without it',
                logger='current',
                level=logging.WARNING)

    def _decode_all(self) -> np.ndarray:
        """Run the loading step on every sample; one array of all images."""
        num = len(self.dataset)
        if num == 0:
            raise ValueError(
                f'InMemoryImages: {_describe(self.dataset)} is empty')
        images, first_path = None, None
        for idx in range(num):
            img, path = self._decode(idx)
            if images is None:
                images = np.empty((num, ) + img.shape, dtype=img.dtype)
                first_path = path
            elif img.shape != images.shape[1:] or img.dtype != images.dtype:
                raise ValueError(
                    f'InMemoryImages holds one array of equal-size images: '
                    f'{path} decodes to {img.shape} {img.dtype}, but '
                    f'{first_path} to {images.shape[1:]} {images.dtype}; '
                    'resize the images on disk or drop InMemoryImages')
            images[idx] = img
        return images

    def _decode(self, idx: int) -> Tuple[np.ndarray, str]:
        """Decode sample ``idx`` with the loading step; name bad files."""
        info = self.dataset.get_data_info(idx)
        path = info.get('img_path', f'sample {idx}')
        try:
            results = self.load_step(info)
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f'InMemoryImages: image file {path} (sample {idx} of '
                f'{_describe(self.dataset)}) is missing') from err
        except Exception as err:
            raise ValueError(f'InMemoryImages: cannot decode {path} (sample '
                             f'{idx}): {err}') from err
        if results is None or results.get('img') is None:
            raise ValueError(f'InMemoryImages: cannot decode {path} (sample '
                             f'{idx}): the loading step returned no image')
        return results['img'], path

    @property
    @force_full_init
    def images(self) -> np.ndarray:
        """The decoded images, ``(N, H, W[, C])``, read-only view."""
        view = self._images.view()
        view.flags.writeable = False
        return view

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """The wrapped dataset's annotation of sample ``idx`` (no image)."""
        return self.dataset.get_data_info(idx)

    @force_full_init
    def get_gt_labels(self) -> np.ndarray:
        """Class id of every sample."""
        return self.dataset.get_gt_labels()

    @force_full_init
    def get_cat_ids(self, idx: int) -> List[int]:
        """Category ids of sample ``idx``."""
        return self.dataset.get_cat_ids(idx)

    @force_full_init
    def __getitem__(self, idx: int) -> dict:
        results = self.dataset.get_data_info(idx)
        img = self._images[idx].copy()  # transforms may write in place
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return self.pipeline(results)

    @force_full_init
    def __len__(self) -> int:
        return len(self._images)

    def __repr__(self) -> str:
        head = f'Dataset {type(self).__name__}'
        if not self._fully_initialized:
            return f'{head}\n    Haven\'t been initialized'
        return (f'{head}\n    images: {self._images.dtype} '
                f'{tuple(self._images.shape)}\n    loading step: '
                f'{self.load_step!r}\n    cache file: {self.cache_file}\n'
                f'    wrapped: {describe_dataset(self.dataset)}')
