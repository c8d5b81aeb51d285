"""End-to-end: tools/train.py and tools/test.py on a long-tailed image set
written to disk by the test (single process, resume, reload, gloo DDP)."""
import json
import pickle
import socket

import pytest
import torch
from _tools import REPO, run_tool
from _toy_images import toy_config, write_toy_dataset
from mmpretrain.apis import ImageClassificationInferencer

import mmpretrain_osdtw  # noqa: F401

BASE = REPO / 'configs/baselines/digits_lt/vit-nano-p2_bal-bce.py'


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Train two epochs once; the tests below reuse the work dir."""
    tmp = tmp_path_factory.mktemp('e2e')
    data_root = write_toy_dataset(tmp / 'data')
    config = tmp / 'toy_bal-bce.py'
    config.write_text(toy_config(data_root, BASE))
    work_dir = tmp / 'work'
    run_tool('tools/train.py', config, '--work-dir', work_dir)
    return config, work_dir


def test_train_writes_checkpoints(trained):
    _, work_dir = trained
    assert (work_dir / 'epoch_2.pth').is_file()
    ckpt = torch.load(work_dir / 'epoch_2.pth', weights_only=False)
    counts = ckpt['state_dict']['head.class_counts']
    assert counts.tolist() == [20, 11, 6, 4]  # CIFAR-LT profile, IR 5


def test_test_tool_prints_table_and_dumps(trained, tmp_path):
    config, work_dir = trained
    metrics_file = tmp_path / 'metrics.json'
    proc = run_tool('tools/test.py', config, work_dir / 'epoch_2.pth',
                    '--work-dir', tmp_path / 'test', '--out', metrics_file,
                    '--out-item', 'metrics')
    assert '| model | Top-1 | Mean class | Many | Medium | Few |' in \
        proc.stdout
    metrics = json.loads(metrics_file.read_text())
    for key in ('top1', 'many', 'medium', 'few', 'head_acc', 'tail_acc'):
        assert 0.0 <= metrics[f'lt/{key}'] <= 100.0
    assert len(metrics['lt/per_class_acc']) == 4


def test_checkpoint_reload_gives_same_predictions(trained, tmp_path):
    config, work_dir = trained
    preds_file = tmp_path / 'preds.pkl'
    run_tool('tools/test.py', config, work_dir / 'epoch_2.pth', '--work-dir',
             tmp_path / 'test', '--out', preds_file)
    with open(preds_file, 'rb') as f:
        dumped = pickle.load(f)

    # MMPretrain's own inference API rebuilds the model from the config
    # and loads the checkpoint.
    inferencer = ImageClassificationInferencer(
        model=str(config), pretrained=str(work_dir / 'epoch_2.pth'))
    paths = [d['img_path'] for d in dumped]
    results = inferencer(paths, batch_size=8)
    for dumped_one, result in zip(dumped, results):
        torch.testing.assert_close(
            torch.as_tensor(result['pred_scores']),
            dumped_one['pred_score'].float(),
            rtol=0,
            atol=1e-5)


def test_resume_continues_from_last_epoch(trained, tmp_path):
    config, work_dir = trained
    proc = run_tool('tools/train.py', config, '--work-dir', work_dir,
                    '--resume', '--cfg-options', 'train_cfg.max_epochs=3')
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 2' in log
    assert 'Epoch(train) [1]' not in log
    assert 'Epoch(train) [3]' in log
    assert (work_dir / 'epoch_3.pth').is_file()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_torchrun_gloo_two_processes(trained, tmp_path):
    config, _ = trained
    work_dir = tmp_path / 'ddp'
    proc = run_tool('-m', 'torch.distributed.run', '--nproc_per_node', '2',
                    '--master_port', free_port(), 'tools/train.py', config,
                    '--launcher', 'pytorch', '--work-dir', work_dir)
    log = proc.stdout + proc.stderr
    assert 'Distributed launcher: pytorch' in log
    assert 'Distributed training: True' in log
    assert (work_dir / 'epoch_2.pth').is_file()
    assert 'lt/top1' in log


def test_missing_config_is_a_clear_error():
    proc = run_tool('tools/train.py', 'configs/nope.py', check=False)
    assert proc.returncode == 2
    assert "config file 'configs/nope.py' does not exist" in proc.stderr


def test_missing_checkpoint_is_a_clear_error(trained):
    config, _ = trained
    proc = run_tool('tools/test.py', config, 'nope.pth', check=False)
    assert proc.returncode == 2
    assert "checkpoint 'nope.pth' does not exist" in proc.stderr
