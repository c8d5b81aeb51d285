"""End-to-end: tools/train.py and tools/test.py on a long-tailed image set
written to disk by the test (single process, resume, reload, gloo DDP): a
quiet console (the log file's path, the table; ``--verbose``: everything),
the test logs beside the checkpoint, one-line errors for missing paths and
no log folder from a run refused before it starts."""
import json
import pickle
import socket

import pytest
import torch
from _tools import REPO, run_log, run_tool
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
    proc = run_tool('tools/train.py', config, '--work-dir', work_dir)
    return config, work_dir, proc


def test_train_writes_checkpoints(trained):
    _, work_dir, _ = trained
    assert (work_dir / 'epoch_2.pth').is_file()
    ckpt = torch.load(work_dir / 'epoch_2.pth', weights_only=False)
    counts = ckpt['state_dict']['head.class_counts']
    assert counts.tolist() == [20, 11, 6, 4]  # CIFAR-LT profile, IR 5


def test_test_tool_prints_table_and_dumps(trained, tmp_path):
    config, work_dir, _ = trained
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
    config, work_dir, _ = trained
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


def test_the_console_shows_the_log_path_and_the_table(trained):
    _, work_dir, proc = trained
    lines = proc.stdout.splitlines()
    log_file = next(work_dir.glob('*/*.log'))
    assert f'[OSDTW] work: full log in {log_file} (--verbose: on the ' \
        'console too)' in lines[0]
    assert lines[1:3] == [
        '| model | Top-1 | Mean class | Many | Medium | Few | Head classes '
        '| Tail classes |', '|---|---|---|---|---|---|---|---|'
    ]
    assert lines[3].startswith('| toy_bal-bce (validation, epoch 2) | ')
    assert len(lines) == 4 and proc.stderr == ''
    log = log_file.read_text()
    for token in ('Config:', 'Epoch(train) [2][', 'Epoch(val) [2]'):
        assert token in log


def test_resume_continues_from_last_epoch(trained, tmp_path):
    config, work_dir, _ = trained
    proc = run_tool('tools/train.py', config, '--work-dir', work_dir,
                    '--resume', '--verbose', '--cfg-options',
                    'train_cfg.max_epochs=3')
    log = proc.stdout + proc.stderr  # --verbose: mmengine's full log
    assert 'resumed epoch: 2' in log
    assert 'Epoch(train) [1]' not in log
    assert 'Epoch(train) [3]' in log
    assert (work_dir / 'epoch_3.pth').is_file()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_torchrun_gloo_two_processes(trained, tmp_path):
    config, _, _ = trained
    work_dir = tmp_path / 'ddp'
    run_tool('-m', 'torch.distributed.run', '--nproc_per_node', '2',
             '--master_port', free_port(), 'tools/train.py', config,
             '--launcher', 'pytorch', '--work-dir', work_dir)
    log = run_log(work_dir)
    assert 'Distributed launcher: pytorch' in log
    assert 'Distributed training: True' in log
    assert (work_dir / 'epoch_2.pth').is_file()
    assert 'lt/top1' in log


def test_test_logs_go_beside_the_checkpoint(trained):
    config, work_dir, _ = trained
    proc = run_tool('tools/test.py', config, work_dir / 'epoch_2.pth')
    log_file = next((work_dir / 'test_toy_bal-bce').glob('*/*.log'))
    assert f'full log in {log_file}' in proc.stdout
    assert 'Epoch(test)' in log_file.read_text()
    assert len(proc.stdout.splitlines()) <= 6  # the line, the table
    proc = run_tool('tools/test.py', config, work_dir / 'epoch_2.pth',
                    '--verbose')
    assert 'Epoch(test)' in proc.stdout  # mmengine's full log


def test_missing_config_is_a_clear_error():
    proc = run_tool('tools/train.py', 'configs/nope.py', check=False)
    assert proc.returncode == 2
    assert "config file 'configs/nope.py' does not exist" in proc.stderr


def test_missing_checkpoint_is_a_clear_error(trained, tmp_path):
    config, _, _ = trained
    for name in ('epoch_59.pth', 'epoch_60.pth'):
        (tmp_path / name).touch()
    proc = run_tool('tools/test.py', config, tmp_path / 'epoch_6.pth',
                    check=False)
    assert proc.returncode == 2
    assert proc.stderr == (
        f"error: checkpoint '{tmp_path}/epoch_6.pth' does not exist (did you "
        f"mean '{tmp_path}/epoch_60.pth'?); {tmp_path} holds epoch_59.pth, "
        'epoch_60.pth\n')


def test_a_refused_checkpoint_leaves_no_log_folder(trained, tmp_path):
    """A checkpoint refused when it loads (here: it holds an object that
    loading would build) fails before the test starts: one line, and no
    ``test_<config>`` log folder beside it."""
    config, _, _ = trained
    ckpt = tmp_path / 'odd.pth'
    torch.save(dict(state_dict={}, meta=dict(path=REPO)), ckpt)
    proc = run_tool('tools/test.py', config, ckpt, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.startswith(f"error: checkpoint '{ckpt}' holds ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ['odd.pth']
