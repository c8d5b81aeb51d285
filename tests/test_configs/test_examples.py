"""The worked example of docs/en/user_guides/configs.md (an MMPretrain
config with the plug-in mixed in; its text there is checked word for word
by tests/test_docs/test_links.py), run as a user would on a tiny synthetic
image set, and the README blocks that must stay equal to files."""
import json

import numpy as np
from _tools import REPO, run_tool
from mmengine.config import Config
from PIL import Image

EXAMPLE = REPO / 'configs/examples/mmpretrain_mix_in.py'
README = REPO / 'README.md'


def write_cifar_like_folders(root, per_class: int, seed: int):
    """``root/c<k>/<i>.png``: 10 classes of synthetic 16x16 RGB images
    (class ``k`` has a bright ``k``-th pixel row)."""
    rng = np.random.RandomState(seed)
    for label in range(10):
        folder = root / f'c{label}'
        folder.mkdir(parents=True)
        for i in range(per_class):
            img = rng.randint(0, 80, size=(16, 16, 3)).astype(np.uint8)
            img[label] += 150
            Image.fromarray(img).save(folder / f'{i}.png')


def shrunk_config(example, data_root) -> str:
    """The example with its CIFAR-10 swapped for the tiny image folders
    (6 per class in train, made long-tailed with imb_ratio 6: 6 to 1
    images, 25 in all), one epoch of two iterations, thresholds for those
    counts."""
    pipeline = ("[dict(type='LoadImageFromFile'), "
                "dict(type='RandomCrop', crop_size=16, padding=2), "
                "dict(type='PackInputs')]")
    return '\n'.join([
        f'_base_ = [{str(example)!r}]',
        '_classes = [f"c{i}" for i in range(10)]',
        'train_dataloader = dict(batch_size=16, num_workers=0, dataset=dict(',
        '    imb_ratio=6, dataset=dict(_delete_=True, type="CustomDataset",',
        f'        data_root={str(data_root / "train")!r},',
        f'        metainfo=dict(classes=_classes), pipeline={pipeline})))',
        'val_dataloader = dict(batch_size=20, num_workers=0, dataset=dict(',
        '    _delete_=True, type="CustomDataset",',
        f'    data_root={str(data_root / "test")!r},',
        '    metainfo=dict(classes=_classes), pipeline=[',
        '        dict(type="LoadImageFromFile"), dict(type="PackInputs")]))',
        'test_dataloader = val_dataloader',
        'val_evaluator = dict(many_thr=4, few_thr=2)',
        'test_evaluator = val_evaluator',
        'train_cfg = dict(max_epochs=1)',
        'default_hooks = dict(logger=dict(interval=1))',
    ]) + '\n'


def test_example_mixes_the_plugin_into_an_mmpretrain_config():
    cfg = Config.fromfile(str(EXAMPLE))
    assert cfg.model.backbone.type == 'ResNet_CIFAR'  # from MMPretrain
    assert cfg.train_dataloader.dataset.type == 'LongTailedDataset'
    assert cfg.train_dataloader.dataset.dataset.type == 'CIFAR10'
    assert cfg.model.head.type == 'LogitAdjustedBCEHead'
    assert cfg.val_evaluator.type == 'ShotGroupMetric'


def test_example_trains_and_tests(tmp_path):
    data_root = tmp_path / 'data'
    write_cifar_like_folders(data_root / 'train', 6, seed=0)
    write_cifar_like_folders(data_root / 'test', 2, seed=1)
    config = tmp_path / 'tiny_mix_in.py'
    config.write_text(shrunk_config(EXAMPLE, data_root))
    work_dir = tmp_path / 'work'
    proc = run_tool('tools/train.py', config, '--work-dir', work_dir)
    assert 'Epoch(train) [1][2/2]' in proc.stdout + proc.stderr
    metrics = tmp_path / 'metrics.json'
    proc = run_tool('tools/test.py', config, work_dir / 'epoch_1.pth',
                    '--work-dir', tmp_path / 'test', '--out', metrics,
                    '--out-item', 'metrics')
    assert '| model | Top-1 | Mean class | Many | Medium | Few |' in \
        proc.stdout
    result = json.loads(metrics.read_text())
    assert len(result['lt/per_class_acc']) == 10
    assert 0.0 <= result['lt/few'] <= 100.0


def test_ci_runs_the_readme_test_command():
    # .ci/run installs into its own folder so that it never deletes the
    # quick start's .venv; otherwise its last line is the README's command
    readme = README.read_text()
    ci_line = (REPO / '.ci/run').read_text().strip().splitlines()[-1]
    assert '.venv' not in ci_line
    assert ci_line.replace('.ci/venv', '.venv') in readme
    assert 'rm -rf .ci/venv\n' in (REPO / '.ci/run').read_text()
