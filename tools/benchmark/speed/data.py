"""Item 6, ``data``: data loading's share of a fine-tuning epoch on the
real CIFAR-10-LT training set (IR 100, 12,406 images, from the JPEG folders
under ``--data-root``; skipped with a message when they are absent).

The JPEG path (``CustomDataset``, ``LoadImageFromFile`` every epoch) vs
the images decoded once (``InMemoryImages``), each with the plain
RandomCrop + flip pipeline and with the fine-tuning recipe's pipeline
(+ RandAugment, RandomErasing; Mixup/CutMix in the data preprocessor), one
epoch each, the four loaders taking turns batch by batch, one model (ViT 96
dims, 6 blocks, 3 heads, patch 8 at 32 px) training on all of them; share =
time in the loader / (time in the loader + time in the training step). The
recipe's pipeline also runs with the plug-in's exact, faster transforms
(``FastRandomCrop``, ``FastRandomFlip``, ``FastRandAugment``,
``FastRandomErasing``: same draws, same output) as a fifth loader, and with
``--data-workers N`` once more in N DataLoader workers. Then the per-image
cost of each pipeline stage.
"""
import os.path as osp
import time
from typing import Dict, List

import torch

from . import runtime
from .runtime import header

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CIFAR10_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog',
                   'frog', 'horse', 'ship', 'truck')
#: The converged benchmark's settings, which hold the fine-tuning recipe's
#: per-sample training pipeline at 32 px (one home for it).
BENCH_SETTINGS = osp.join(REPO, 'configs', 'benchmarks', 'cifar10_lt_mgp',
                          '_bench.py')
#: MMPretrain's transforms and the plug-in's exact, faster versions of them
#: (``mmpretrain_osdtw/datasets/transforms``: same draws, same output).
FAST_TYPES = dict(
    RandomCrop='FastRandomCrop',
    RandomFlip='FastRandomFlip',
    RandAugment='FastRandAugment',
    RandomErasing='FastRandomErasing')


def recipe_pipeline(fast: bool) -> List[dict]:
    """The recipe's per-sample pipeline after the loading step, as the
    converged benchmark runs it (``fast``) or with MMPretrain's own
    transforms; Mixup/CutMix run in the data preprocessor."""
    from mmengine.config import Config
    pipeline = Config.fromfile(BENCH_SETTINGS).bench_train_pipeline
    names = {v: k for k, v in FAST_TYPES.items()}
    steps = [t.to_dict() for t in pipeline if t.type != 'LoadImageFromFile']
    if fast:
        return steps
    return [dict(t, type=names.get(t['type'], t['type'])) for t in steps]


RECIPE_PIPELINE = recipe_pipeline(fast=False)
FAST_RECIPE_PIPELINE = recipe_pipeline(fast=True)
PLAIN_PIPELINE = RECIPE_PIPELINE[:2] + [dict(type='PackInputs')]
RECIPE_BATCH_AUGMENTS = dict(
    augments=[dict(type='Mixup', alpha=0.8),
              dict(type='CutMix', alpha=1.0)])


def cifar_lt_dataset_cfg(data_root: str, pipeline: List[dict],
                         in_memory: bool, imb_ratio: float = 100,
                         split: str = 'train',
                         classes=CIFAR10_CLASSES) -> dict:
    """CIFAR-LT training set over the JPEG folders, optionally in memory.

    The same ``CustomDataset`` either way; ``in_memory`` wraps it in
    ``InMemoryImages`` (inside ``LongTailedDataset``, as
    ``configs/_base_/datasets/cifar10_lt_jpeg_in_memory.py`` does).
    """
    folder = dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix=split,
        metainfo=dict(classes=tuple(classes)),
        pipeline=[dict(type='LoadImageFromFile')] + list(pipeline))
    if in_memory:
        folder = dict(type='InMemoryImages', dataset=folder)
    return dict(type='LongTailedDataset', imb_ratio=imb_ratio, dataset=folder)


def cifar_preprocessor_cfg(batch_augments=None) -> dict:
    """``ClsDataPreprocessor`` of the CIFAR configs: RGB mean/std, BGR
    images from ``LoadImageFromFile`` converted to RGB; one-hot labels
    (what Mixup/CutMix turn on) also without batch augments, so that one
    soft-label loss serves both."""
    return dict(
        type='ClsDataPreprocessor',
        num_classes=10,
        mean=[125.307, 122.961, 113.8575],
        std=[51.5865, 50.847, 51.255],
        to_rgb=True,
        to_onehot=True,
        batch_augments=batch_augments)


def finetune_model(batch_augments=None, dims: int = 96, layers: int = 6,
                   heads: int = 3, ffn: int = 384, img: int = 32,
                   patch: int = 8, num_classes: int = 10, seed: int = 0):
    """The fine-tuning recipe's small ViT classifier (average pooling,
    drop path 0.1, soft-label CE for Mixup/CutMix)."""
    from mmpretrain.registry import MODELS
    torch.manual_seed(seed)
    return MODELS.build(
        dict(
            type='ImageClassifier',
            data_preprocessor=dict(
                cifar_preprocessor_cfg(batch_augments),
                num_classes=num_classes),
            backbone=dict(
                type='VisionTransformer',
                arch=dict(
                    embed_dims=dims,
                    num_layers=layers,
                    num_heads=heads,
                    feedforward_channels=ffn),
                img_size=img,
                patch_size=patch,
                out_type='avg_featmap',
                final_norm=False,
                drop_path_rate=0.1),
            neck=None,
            head=dict(
                type='LinearClsHead',
                num_classes=num_classes,
                in_channels=dims,
                loss=dict(type='CrossEntropyLoss', use_soft=True)))).to(
                    runtime.DEVICE)


def timed_epochs(loaders: Dict[str, object],
                 model,
                 preprocessors: Dict[str, object],
                 max_batches: int = 0) -> Dict[str, Dict[str, float]]:
    """One epoch per loader, the loaders taking turns batch by batch.

    Each turn times ``next(loader)`` (the data path: sampling, pipeline,
    collate) and the training step (as ``BaseModel.train_step``: the
    loader's data preprocessor, forward, loss, backward, AdamW), with the
    preprocessor also timed on its own.

    Returns:
        dict: per loader ``data_s``, ``preprocess_s``, ``step_s`` (the
        whole training step, preprocessor included), ``images``.
    """
    from mmengine.optim import OptimWrapper
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-4))
    model.train()
    iters = {name: iter(loader) for name, loader in loaders.items()}
    out = {name: dict(data_s=0., preprocess_s=0., step_s=0., images=0)
           for name in loaders}
    batches = 0
    while iters and (not max_batches or batches < max_batches):
        batches += 1
        for name in list(iters):
            start = time.perf_counter()
            try:
                batch = next(iters[name])
            except StopIteration:
                del iters[name]
                continue
            got = time.perf_counter()
            with optim.optim_context(model):
                data = preprocessors[name](batch, True)
                runtime.sync()
                prep = time.perf_counter()
                losses = model._run_forward(data, mode='loss')
                loss, _ = model.parse_losses(losses)
                optim.update_params(loss)
            runtime.sync()
            end = time.perf_counter()
            row = out[name]
            row['data_s'] += got - start
            row['preprocess_s'] += prep - got
            row['step_s'] += end - got
            row['images'] += len(batch['inputs'])
    return out


def stage_costs(dataset, num: int, seed: int = 0) -> Dict[str, float]:
    """Milliseconds per image of each stage of a dataset's data path.

    ``dataset`` is a built ``LongTailedDataset`` over a ``CustomDataset``
    (JPEG path) or ``InMemoryImages``; ``num`` samples (a seeded random
    choice) go through the annotation look-up (and for ``InMemoryImages``
    the copy of the held image), then each transform in turn, each timed;
    ``collate`` is ``pseudo_collate`` on batches of 128 of the results.
    """
    import numpy as np
    from mmengine.dataset import pseudo_collate
    rng = np.random.RandomState(seed)
    idx = rng.choice(len(dataset), size=min(num, len(dataset)),
                     replace=False)
    inner = dataset.dataset
    in_memory = type(inner).__name__ == 'InMemoryImages'
    transforms = list(inner.pipeline.transforms)
    if in_memory:
        transforms = [None] + transforms  # the look-up and copy
    names = ['in-memory image + annotation' if t is None else
             type(t).__name__ for t in transforms]
    if not in_memory:
        names[0] = 'annotation + ' + names[0]
    totals = [0.] * len(transforms)
    results = []
    np.random.seed(seed)
    for i in idx:
        base = int(dataset.indices[i])
        start = time.perf_counter()
        if in_memory:
            info = inner.dataset.get_data_info(base)
            img = inner.images[base].copy()
            info.update(img=img, img_shape=img.shape[:2],
                        ori_shape=img.shape[:2])
        else:
            info = inner.get_data_info(base)
        for k, transform in enumerate(transforms):
            if transform is not None:
                info = transform(info)
            now = time.perf_counter()
            totals[k] += now - start
            start = now
        results.append(info)
    costs = {name: 1e3 * t / len(idx) for name, t in zip(names, totals)}
    start = time.perf_counter()
    for first in range(0, len(results), 128):
        pseudo_collate(results[first:first + 128])
    costs['collate (pseudo_collate)'] = (
        1e3 * (time.perf_counter() - start) / len(results))
    costs['total'] = sum(costs.values())
    return costs


def data_share(row: Dict[str, float]) -> Dict[str, float]:
    """Shares of an epoch: loader / (loader + step), and with the data
    preprocessor (normalisation, Mixup/CutMix) counted as data too."""
    total = row['data_s'] + row['step_s']
    return dict(
        share=row['data_s'] / total,
        share_with_preprocessor=(row['data_s'] + row['preprocess_s']) /
        total,
        data_ms_per_img=1e3 * row['data_s'] / row['images'],
        preprocess_ms_per_img=1e3 * row['preprocess_s'] / row['images'],
        step_ms_per_img=1e3 * row['step_s'] / row['images'],
        model_img_per_s=row['images'] /
        (row['step_s'] - row['preprocess_s']))


def bench_data(args) -> dict:
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    from mmpretrain.registry import DATASETS, MODELS
    header('6. data loading share of a fine-tuning epoch (CIFAR-10-LT IR 100)')
    root = osp.join(REPO, args.data_root) if not osp.isabs(
        args.data_root) else args.data_root
    if not osp.isdir(osp.join(root, 'train')):
        msg = (f'skipped: {osp.join(root, "train")} is absent (unpack the '
               'CIFAR-10 JPEG archive: mkdir -p data/cifar10 && tar -xzf '
               '../shared/data/cifar10/cifar10_jpeg.tar.gz -C data/cifar10)')
        print(msg)
        return dict(skipped=msg)
    init_default_scope('mmpretrain')
    pipelines = dict(plain=PLAIN_PIPELINE, recipe=RECIPE_PIPELINE)
    # (data path, pipeline name, pipeline, DataLoader workers)
    variants = [(memory, pipe_name, pipeline, 0) for memory in (False, True)
                for pipe_name, pipeline in pipelines.items()]
    variants.append((True, 'recipe, fast transforms', FAST_RECIPE_PIPELINE,
                     0))
    if args.data_workers:
        variants.append(
            (True, f'recipe, fast transforms, num_workers='
             f'{args.data_workers}', FAST_RECIPE_PIPELINE, args.data_workers))
    loaders, datasets, build_s = {}, {}, {}
    for memory, pipe_name, pipeline, workers in variants:
        name = f'{"in-memory" if memory else "JPEG"}, {pipe_name}'
        start = time.perf_counter()
        datasets[name] = DATASETS.build(
            cifar_lt_dataset_cfg(root, pipeline, memory))
        build_s[name] = time.perf_counter() - start
        loaders[name] = Runner.build_dataloader(
            dict(
                batch_size=128,
                num_workers=workers,
                persistent_workers=workers > 0,
                dataset=datasets[name],
                sampler=dict(type='DefaultSampler', shuffle=True)),
            seed=0)
    model = finetune_model()
    preprocessors = {}
    for name in loaders:
        augments = RECIPE_BATCH_AUGMENTS if 'recipe' in name else None
        preprocessors[name] = MODELS.build(
            cifar_preprocessor_cfg(augments)).to(runtime.DEVICE)
    nparams = sum(p.numel() for p in model.parameters())
    timed_epochs(loaders, model, preprocessors, max_batches=2)  # warm-up
    epochs = timed_epochs(loaders, model, preprocessors,
                          max_batches=20 if args.quick else 0)
    rows = {}
    for name, row in epochs.items():
        rows[name] = dict(row, **data_share(row), build_s=build_s[name])
        r = rows[name]
        print(f'{name}: {r["images"]} images; loader '
              f'{r["data_ms_per_img"]:.3f} ms/img, training step '
              f'{r["step_ms_per_img"]:.3f} ms/img (of which data '
              f'preprocessor {r["preprocess_ms_per_img"]:.3f}); data share '
              f'{100 * r["share"]:.1f} % (with the preprocessor '
              f'{100 * r["share_with_preprocessor"]:.1f} %); dataset build '
              f'{r["build_s"]:.1f} s')
    print('  model: ViT 96 dims, 6 blocks, 3 heads, MLP 384, patch 8 at 32 '
          f'px ({nparams / 1e6:.2f}M params), batch 128, AdamW; target: data '
          'share <= 15 %')
    num = 500 if args.quick else 3000
    costs = {}
    for name, dataset in datasets.items():
        if 'num_workers' in name:
            continue  # same dataset as the row without workers
        costs[name] = stage_costs(dataset, num)
        print(f'  per-image stages, {name} (ms, {min(num, len(dataset))} '
              'images): ' + ', '.join(f'{k} {v:.4f}'
                                      for k, v in costs[name].items()))
    fast, ref = 'in-memory, recipe, fast transforms', 'in-memory, recipe'
    speedup = dict(
        loader=rows[ref]['data_ms_per_img'] / rows[fast]['data_ms_per_img'],
        pipeline=costs[ref]['total'] / costs[fast]['total'])
    print(f'  fast transforms vs MMPretrain\'s (in memory, recipe): loader '
          f'{speedup["loader"]:.2f}x, per-image stages '
          f'{speedup["pipeline"]:.2f}x faster')
    return dict(epochs=rows, stage_ms=costs, params=nparams,
                fast_speedup=speedup, quick=args.quick)
