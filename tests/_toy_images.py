"""A tiny long-tailed image set on disk, in MMPretrain's folder format."""
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ('circle', 'square', 'stripe', 'dot')


def class_image(label: int, rng: np.random.RandomState) -> np.ndarray:
    """An 8x8 RGB image whose bright quadrant tells the class."""
    img = rng.randint(0, 60, size=(8, 8, 3)).astype(np.uint8)
    row, col = divmod(label, 2)
    img[row * 4:row * 4 + 4, col * 4:col * 4 + 4] += 180
    return img


def write_image_folder(root: Path, per_class: int, seed: int) -> Path:
    """``root/<class>/<i>.png`` with ``per_class`` images of each class."""
    rng = np.random.RandomState(seed)
    for label, name in enumerate(CLASSES):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(class_image(label, rng)).save(folder / f'{i}.png')
    return root


def write_toy_dataset(root: Path) -> Path:
    """Balanced ``train/`` (20 per class) and ``test/`` (5 per class)."""
    write_image_folder(root / 'train', 20, seed=0)
    write_image_folder(root / 'test', 5, seed=1)
    return root


def toy_config(data_root: Path, base: Path, **extra: str) -> str:
    """A config inheriting ``base`` and reading the toy set; the training
    split is made long-tailed (20/11/6/4 images) by ``LongTailedDataset``."""
    pipeline = "[dict(type='LoadImageFromFile'), dict(type='PackInputs')]"
    lines = [
        f"_base_ = [{str(base)!r}]",
        f"_classes = {CLASSES!r}",
        "data_preprocessor = dict(num_classes=4)",
        "model = dict(head=dict(num_classes=4))",
        "train_dataloader = dict(batch_size=8, dataset=dict(_delete_=True,",
        "    type='LongTailedDataset', imb_ratio=5, dataset=dict(",
        f"        type='CustomDataset', data_root={str(data_root)!r},",
        "        data_prefix='train', metainfo=dict(classes=_classes),",
        f"        pipeline={pipeline})))",
        "val_dataloader = dict(batch_size=16, dataset=dict(_delete_=True,",
        f"    type='CustomDataset', data_root={str(data_root)!r},",
        "    data_prefix='test', metainfo=dict(classes=_classes),",
        f"    pipeline={pipeline}))",
        "test_dataloader = val_dataloader",
        "val_evaluator = dict(many_thr=10, few_thr=5)",
        "test_evaluator = val_evaluator",
        "train_cfg = dict(max_epochs=2, val_interval=1)",
        "default_hooks = dict(logger=dict(interval=1))",
    ]
    lines += [f'{key} = {value}' for key, value in extra.items()]
    return '\n'.join(lines) + '\n'
