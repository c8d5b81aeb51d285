"""The worked example of docs/en/user_guides/configs.md (an MMPretrain
config with the plug-in mixed in; its text there is checked word for word
by tests/test_docs/test_links.py), run as a user would on a tiny synthetic
image set in the layout of the CIFAR-10 JPEG archive, and the README blocks
that must stay equal to files."""
import json
import os

import numpy as np
from _tools import ENV, REPO, run_log, run_tool
from mmengine.config import Config
from PIL import Image

EXAMPLE = REPO / 'configs/examples/mmpretrain_mix_in.py'
README = REPO / 'README.md'
CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog',
           'horse', 'ship', 'truck')


def write_cifar_like_folders(root, per_class: int, seed: int):
    """``root/<class>/<i>.jpg``: CIFAR-10's class folders of synthetic
    32x32 RGB images (class ``k`` has bright pixel rows ``2k`` and
    ``2k + 1``)."""
    rng = np.random.RandomState(seed)
    for label, name in enumerate(CLASSES):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            img = rng.randint(0, 80, size=(32, 32, 3)).astype(np.uint8)
            img[2 * label:2 * label + 2] += 150
            Image.fromarray(img).save(folder / f'{i:04d}.jpg')


def shrunk_config(example, data_root) -> str:
    """The example reading the tiny folders (6 per class in train, made
    long-tailed with imb_ratio 6: 6 to 1 images, 25 in all), one epoch of
    two iterations, thresholds for those counts."""
    return '\n'.join([
        f'_base_ = [{str(example)!r}]',
        f'_data = dict(data_root={str(data_root)!r})',
        'train_dataloader = dict(batch_size=16, num_workers=0, dataset=dict(',
        '    imb_ratio=6, dataset=_data))',
        'val_dataloader = dict(batch_size=20, num_workers=0, dataset=_data)',
        'test_dataloader = val_dataloader',
        'val_evaluator = dict(many_thr=4, few_thr=2)',
        'test_evaluator = val_evaluator',
        'train_cfg = dict(max_epochs=1)',
        'default_hooks = dict(logger=dict(interval=1))',
    ]) + '\n'


def test_example_mixes_the_plugin_into_an_mmpretrain_config():
    cfg = Config.fromfile(str(EXAMPLE))
    assert cfg.model.backbone.type == 'ResNet_CIFAR'  # from MMPretrain
    assert cfg.optim_wrapper.optimizer.type == 'SGD'  # from MMPretrain
    assert cfg.train_dataloader.dataset.type == 'LongTailedDataset'
    for loader in (cfg.train_dataloader.dataset, cfg.test_dataloader):
        dataset = loader.get('dataset', loader)
        assert dataset.type == 'CustomDataset'  # the JPEG folders
        assert dataset.data_root == 'data/cifar10'
        assert dataset.metainfo.classes == CLASSES
        assert dataset.pipeline[0].type == 'LoadImageFromFile'
    assert cfg.data_preprocessor.to_rgb  # the files load as BGR
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
    assert 'Epoch(train) [1][2/2]' in run_log(work_dir)
    assert '| tiny_mix_in (validation, epoch 1) |' in proc.stdout
    metrics = tmp_path / 'metrics.json'
    proc = run_tool('tools/test.py', config, work_dir / 'epoch_1.pth',
                    '--work-dir', tmp_path / 'test', '--out', metrics,
                    '--out-item', 'metrics')
    assert '| model | Top-1 | Mean class | Many | Medium | Few |' in \
        proc.stdout
    result = json.loads(metrics.read_text())
    assert len(result['lt/per_class_acc']) == 10
    assert 0.0 <= result['lt/few'] <= 100.0


def test_example_without_its_data_downloads_nothing(tmp_path):
    """Run from a folder without ``data/``: one line naming the missing
    folder, and no ``data/`` made (MMPretrain's CIFAR10 loader tried to
    download the archive and left an empty ``data/cifar10``)."""
    env = dict(ENV, PYTHONPATH=os.pathsep.join(
        [str(REPO), ENV.get('PYTHONPATH', '')]))
    proc = run_tool(REPO / 'tools/train.py', EXAMPLE, '--work-dir',
                    tmp_path / 'work', check=False, cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [
        'error: train_dataloader.dataset (LongTailedDataset): [Errno 2] No '
        "such file or directory: 'data/cifar10/train'"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_ci_runs_the_readme_test_command():
    # .ci/run installs into its own folder so that it never deletes the
    # quick start's .venv; otherwise its last line is the README's command
    readme = README.read_text()
    ci_line = (REPO / '.ci/run').read_text().strip().splitlines()[-1]
    assert '.venv' not in ci_line
    assert ci_line.replace('.ci/venv', '.venv') in readme
    assert 'rm -rf .ci/venv\n' in (REPO / '.ci/run').read_text()
