"""InMemoryImages: same pixels and samples as decoding the files, once."""
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from _shared import shared_path
from _toy_datasets import write_image_folders
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS
from PIL import Image

from mmpretrain_osdtw.datasets import (HeadTailSplit, InMemoryImages,
                                       LongTailedDataset, get_class_counts)
from mmpretrain_osdtw.osdtw.fisher import fisher_dataloader_cfg

init_default_scope('mmpretrain')

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'configs' / '_base_' / 'datasets' / (
    'cifar10_lt_jpeg_in_memory.py')
LOAD = dict(type='LoadImageFromFile')
PACK = dict(type='PackInputs')
AUGMENT = [
    dict(type='RandomCrop', crop_size=6, padding=2),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val=[114, 123, 125])),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=[103.53, 116.28, 123.675],
        fill_std=[57.375, 57.12, 58.395]),
]


def write_jpeg_folders(root: Path, per_class, seed: int = 0) -> str:
    """``root/class_<c>/<j>.jpg``: random 6x6 RGB JPEGs (synthetic)."""
    rng = np.random.RandomState(seed)
    for c, num in enumerate(per_class):
        folder = root / f'class_{c}'
        folder.mkdir(parents=True, exist_ok=True)
        for j in range(num):
            pixels = rng.randint(0, 256, size=(6, 6, 3)).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f'{j:03d}.jpg', quality=75)
    return str(root)


def folder_cfg(prefix: str, pipeline, num_classes: int = 3) -> dict:
    return dict(
        type='CustomDataset',
        data_prefix=prefix,
        metainfo=dict(classes=tuple(f'class_{c}'
                                    for c in range(num_classes))),
        pipeline=pipeline)


@pytest.fixture(scope='module')
def jpeg_root(tmp_path_factory) -> str:
    return write_jpeg_folders(tmp_path_factory.mktemp('jpeg'), [8, 6, 5])


def seeded_items(dataset, seed: int = 0):
    """Every item, with numpy's global RNG (the transforms') re-seeded."""
    items = []
    for idx in range(len(dataset)):
        np.random.seed(seed + idx)
        items.append(dataset[idx])
    return items


def assert_same_items(items, expected):
    assert len(items) == len(expected)
    for got, want in zip(items, expected):
        torch.testing.assert_close(got['inputs'], want['inputs'], rtol=0,
                                   atol=0)
        assert got['data_samples'].gt_label.tolist() == want[
            'data_samples'].gt_label.tolist()
        assert got['data_samples'].img_path == want['data_samples'].img_path
        assert got['data_samples'].sample_idx == want[
            'data_samples'].sample_idx


# ------------------------------------------------------------ same pixels
def test_pixels_equal_decoding_the_files(jpeg_root):
    dataset = InMemoryImages(folder_cfg(jpeg_root, [LOAD, PACK]))
    assert len(dataset) == 19 and dataset.images.shape == (19, 6, 6, 3)
    for idx in range(len(dataset)):
        path = dataset.get_data_info(idx)['img_path']
        decoded = cv2.imread(path, cv2.IMREAD_COLOR)  # BGR, as mmcv's
        np.testing.assert_array_equal(dataset.images[idx], decoded)
        np.testing.assert_array_equal(
            dataset[idx]['inputs'].numpy().transpose(1, 2, 0), decoded)
    assert_same_items(
        seeded_items(dataset),
        seeded_items(DATASETS.build(folder_cfg(jpeg_root, [LOAD, PACK]))))


def test_random_pipeline_matches_the_file_path_sample_for_sample(jpeg_root):
    """Same RNG state -> same augmented tensor as decoding every time."""
    pipeline = [LOAD] + AUGMENT + [PACK]
    in_memory = InMemoryImages(folder_cfg(jpeg_root, pipeline))
    from_files = DATASETS.build(folder_cfg(jpeg_root, pipeline))
    for seed in (0, 100):
        assert_same_items(
            seeded_items(in_memory, seed), seeded_items(from_files, seed))


def test_in_place_transforms_leave_the_held_images_intact(jpeg_root):
    erase = dict(type='RandomErasing', erase_prob=1., mode='const',
                 fill_color=0, min_area_ratio=0.5, max_area_ratio=0.9)
    dataset = InMemoryImages(folder_cfg(jpeg_root, [LOAD, erase, PACK]))
    before = dataset.images.copy()
    for idx in range(len(dataset)):
        dataset[idx]
    np.testing.assert_array_equal(dataset.images, before)
    assert not dataset.images.flags.writeable


def test_png_folders_labels_and_metainfo(tmp_path):
    prefix = write_image_folders(tmp_path, [3, 2])
    dataset = InMemoryImages(folder_cfg(prefix, [LOAD, PACK], 2))
    assert get_class_counts(dataset).tolist() == [3, 2]
    assert dataset.get_gt_labels().tolist() == [0, 0, 0, 1, 1]
    assert dataset.get_cat_ids(4) == [1]
    assert dataset.metainfo['classes'] == ('class_0', 'class_1')
    # write_image_folders fills image j of class c with 10 c + j
    assert int(dataset[4]['inputs'].max()) == 11


# ------------------------------------------------------------ wrappers
def test_under_long_tailed_and_head_tail_split(jpeg_root):
    cfg = dict(
        type='LongTailedDataset',
        imb_ratio=2,
        dataset=dict(
            type='InMemoryImages',
            dataset=folder_cfg(jpeg_root, [LOAD] + AUGMENT + [PACK])))
    dataset = DATASETS.build(cfg)
    reference = LongTailedDataset(
        DATASETS.build(folder_cfg(jpeg_root, [LOAD] + AUGMENT + [PACK])),
        imb_ratio=2)
    np.testing.assert_array_equal(dataset.indices, reference.indices)
    assert dataset.class_counts.tolist() == reference.class_counts.tolist()
    assert_same_items(seeded_items(dataset), seeded_items(reference))
    split = HeadTailSplit(dataset, task='tail')
    assert len(split) == len(dataset)
    item = split[len(split) - 1]
    assert tuple(item['inputs'].shape) == (3, 6, 6)


def test_fisher_loader_replaces_the_pipeline(jpeg_root):
    """The Fisher pass's loader finds the test pipeline inside the wrapper
    and puts it into the training set's wrapped CustomDataset."""
    train = dict(
        type='LongTailedDataset',
        imb_ratio=2,
        dataset=dict(
            type='InMemoryImages',
            dataset=folder_cfg(jpeg_root, [LOAD] + AUGMENT + [PACK])))
    test = dict(
        type='InMemoryImages', dataset=folder_cfg(jpeg_root, [LOAD, PACK]))
    cfg = Config(
        dict(
            train_dataloader=dict(batch_size=4, dataset=train),
            test_dataloader=dict(batch_size=4, dataset=test)))
    loader_cfg = fisher_dataloader_cfg(cfg)
    inner = loader_cfg['dataset']['dataset']['dataset']
    assert inner['pipeline'] == [LOAD, PACK]
    fisher_set = DATASETS.build(loader_cfg['dataset'])
    assert [type(t).__name__ for t in fisher_set.dataset.pipeline.transforms
            ] == ['PackInputs']
    plain = LongTailedDataset(
        DATASETS.build(folder_cfg(jpeg_root, [LOAD, PACK])), imb_ratio=2)
    assert_same_items([fisher_set[i] for i in range(len(fisher_set))],
                      [plain[i] for i in range(len(plain))])


def test_base_config_structure():
    cfg = Config.fromfile(str(CONFIG))
    train = cfg.train_dataloader.dataset
    assert train.type == 'LongTailedDataset' and train.imb_ratio == 100
    assert train.dataset.type == 'InMemoryImages'
    assert train.dataset.dataset.type == 'CustomDataset'
    assert train.dataset.dataset.pipeline[0].type == 'LoadImageFromFile'
    assert cfg.val_dataloader.dataset.type == 'InMemoryImages'
    assert cfg.data_preprocessor.to_rgb is True  # BGR files, RGB mean/std
    loader = fisher_dataloader_cfg(cfg)
    assert loader['dataset']['dataset']['dataset']['pipeline'] == (
        cfg.test_dataloader.dataset.dataset.pipeline)


# ------------------------------------------------------------ bad input
def test_missing_folder_is_named(tmp_path):
    missing = tmp_path / 'no_such_split'
    with pytest.raises(FileNotFoundError, match='no_such_split'):
        InMemoryImages(folder_cfg(str(missing), [LOAD, PACK]))


def test_missing_file_is_named(tmp_path, jpeg_root):
    ann = tmp_path / 'train.txt'
    ann.write_text('class_0/000.jpg 0\nclass_0/gone.jpg 0\n')
    cfg = dict(
        type='CustomDataset',
        ann_file=str(ann),
        data_prefix=jpeg_root,
        metainfo=dict(classes=('class_0', )),
        pipeline=[LOAD, PACK])
    with pytest.raises(FileNotFoundError, match=r'class_0/gone\.jpg'):
        InMemoryImages(cfg)


def test_undecodable_file_is_named(tmp_path):
    prefix = write_image_folders(tmp_path, [2, 2])
    (tmp_path / 'class_1' / '001.png').write_bytes(b'not an image')
    with pytest.raises(ValueError, match=r'cannot decode .*class_1/001\.png'):
        InMemoryImages(folder_cfg(prefix, [LOAD, PACK], 2))


def test_size_mismatch_names_both_files(tmp_path):
    prefix = write_image_folders(tmp_path, [2, 2])
    Image.fromarray(np.zeros((7, 6, 3), np.uint8)).save(tmp_path / 'class_1' /
                                                        '000.png')
    with pytest.raises(ValueError, match=r'class_1/000\.png.*class_0/000'):
        InMemoryImages(folder_cfg(prefix, [LOAD, PACK], 2))


def test_pipeline_without_loading_step(jpeg_root):
    with pytest.raises(ValueError, match='starts with PackInputs'):
        InMemoryImages(folder_cfg(jpeg_root, [PACK]))
    with pytest.raises(TypeError, match='get_data_info'):
        InMemoryImages([1, 2, 3])


def test_lazy_init_decodes_on_first_use(jpeg_root):
    dataset = InMemoryImages(folder_cfg(jpeg_root, [LOAD, PACK]),
                             lazy_init=True)
    assert 'Haven\'t been initialized' in repr(dataset)
    assert len(dataset) == 19
    assert 'uint8 (19, 6, 6, 3)' in repr(dataset)


# ------------------------------------------------------------ real data
@pytest.fixture(scope='module')
def cifar10_root(tmp_path_factory) -> Path:
    """The real CIFAR-10 JPEG archive's train split: the copy the README
    unpacks into ``data/cifar10`` if there is one, else unpacked here (the
    tar program; Python's tarfile takes far longer on 50,000 files)."""
    path = shared_path('data', 'cifar10', 'cifar10_jpeg.tar.gz')
    unpacked = REPO / 'data' / 'cifar10'
    if (unpacked / 'train' / 'truck' / '4999.jpg').is_file():
        return unpacked
    root = tmp_path_factory.mktemp('cifar10')
    subprocess.run(['tar', '-xzf', str(path), '-C', str(root), 'train'],
                   check=True)
    return root


def test_real_cifar10_lt_in_memory(cifar10_root):
    cfg = Config.fromfile(str(CONFIG))
    train = cfg.train_dataloader.dataset
    train.dataset.dataset.data_root = str(cifar10_root)
    train.dataset.cache_file = None  # decode; write nothing into data/
    dataset = DATASETS.build(train)
    assert len(dataset) == 12406
    assert dataset.class_counts.tolist() == [
        5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50
    ]
    held = dataset.dataset
    assert held.images.shape == (50000, 32, 32, 3)
    rng = np.random.RandomState(0)
    for idx in rng.choice(50000, 20, replace=False):
        path = held.get_data_info(int(idx))['img_path']
        np.testing.assert_array_equal(held.images[idx], cv2.imread(path))
    split = HeadTailSplit(dataset, task='head')
    assert split.head_classes.tolist() == [0, 1, 2, 3, 4]
    assert len(split) == 12406


# ------------------------------------------------------------ cache file
def test_cache_file_is_written_reused_and_verified(tmp_path, monkeypatch):
    root = write_jpeg_folders(tmp_path / 'images', [3, 2, 2])
    cache = tmp_path / 'cache' / 'decoded.npz'
    cfg = folder_cfg(root, [LOAD, PACK])
    first = InMemoryImages(cfg, cache_file=str(cache))
    assert cache.is_file()
    assert sorted(p.name for p in cache.parent.iterdir()) == ['decoded.npz']
    calls = []
    real = InMemoryImages._decode_all

    def counting(self):
        calls.append(1)
        return real(self)

    monkeypatch.setattr(InMemoryImages, '_decode_all', counting)
    again = InMemoryImages(cfg, cache_file=str(cache))
    assert calls == []  # read from the cache, not decoded
    np.testing.assert_array_equal(again.images, first.images)
    # a changed image file invalidates the cache: decoded again, rewritten
    changed = Path(root) / 'class_1' / '000.jpg'
    Image.fromarray(np.full((6, 6, 3), 200, np.uint8)).save(changed)
    os_stat = changed.stat()
    os.utime(changed, ns=(os_stat.st_atime_ns, os_stat.st_mtime_ns + 10**9))
    fresh = InMemoryImages(cfg, cache_file=str(cache))
    assert calls == [1]
    np.testing.assert_array_equal(fresh.images[3], cv2.imread(str(changed)))
    InMemoryImages(cfg, cache_file=str(cache))
    assert calls == [1]  # the rewritten cache matches again
    # another loading step (grayscale) does not reuse it
    gray = folder_cfg(root, [dict(LOAD, color_type='grayscale'), PACK])
    assert InMemoryImages(gray, cache_file=str(cache)).images.ndim == 3
    assert calls == [1, 1]


def test_unreadable_cache_is_replaced(tmp_path):
    root = write_jpeg_folders(tmp_path / 'images', [2, 2])
    cache = tmp_path / 'decoded.npz'
    cache.write_bytes(b'not a zip file')
    cfg = folder_cfg(root, [LOAD, PACK], 2)
    dataset = InMemoryImages(cfg, cache_file=str(cache))
    assert dataset.images.shape == (4, 6, 6, 3)
    with np.load(cache) as data:
        np.testing.assert_array_equal(data['images'], dataset.images)


# ------------------------------------------------------------ training
def in_memory_toy_config(tmp: Path) -> Path:
    """The toy baseline config with both splits held in memory."""
    from _toy_images import CLASSES, toy_config, write_toy_dataset
    data_root = write_toy_dataset(tmp / 'data')
    base = tmp / 'toy_bal-bce.py'
    base.write_text(
        toy_config(data_root,
                   REPO / 'configs/baselines/digits_lt/vit-nano-p2_bal-bce.py'))
    folder = ("dict(type='CustomDataset', data_root={root!r}, "
              "data_prefix={split!r}, metainfo=dict(classes={classes!r}), "
              "pipeline=[dict(type='LoadImageFromFile'), "
              "dict(type='PackInputs')])")
    train = folder.format(root=str(data_root), split='train', classes=CLASSES)
    test = folder.format(root=str(data_root), split='test', classes=CLASSES)
    config = tmp / 'toy_in_memory.py'
    config.write_text(
        f'_base_ = [{str(base)!r}]\n'
        'train_dataloader = dict(dataset=dict(dataset=dict(_delete_=True, '
        "type='InMemoryImages', "
        f"cache_file={str(tmp / 'train.npz')!r}, dataset={train})))\n"
        "val_dataloader = dict(dataset=dict(_delete_=True, "
        f"type='InMemoryImages', dataset={test}))\n"
        'test_dataloader = val_dataloader\n')
    return config


def test_training_under_ddp(tmp_path):
    """tools/train.py on held images, 2 gloo ranks (each decodes its copy
    and writes the cache atomically): the class counts reach the head
    (ClassCountsHook), validation runs, one cache file is left."""
    import socket
    from _tools import run_log, run_tool
    config = in_memory_toy_config(tmp_path)
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = str(sock.getsockname()[1])
    run_tool('-m', 'torch.distributed.run', '--nproc_per_node', '2',
             '--master_port', port, 'tools/train.py', config, '--launcher',
             'pytorch', '--work-dir', tmp_path / 'ddp')
    log = run_log(tmp_path / 'ddp')
    assert 'Distributed training: True' in log
    assert 'lt/top1' in log
    ckpt = torch.load(tmp_path / 'ddp' / 'epoch_2.pth', weights_only=False)
    assert ckpt['state_dict']['head.class_counts'].tolist() == [20, 11, 6, 4]
    assert sorted(p.name for p in tmp_path.glob('*.npz*')) == ['train.npz']
