"""The OSDTW pipeline with MGP as its first step (Digits-LT, tiny
schedules): killed mid-MGP and resumed from MGP's last epoch checkpoint,
stage 1 of both tasks starting from the MGP encoder, a finished MGP not
redone, and a changed MGP config rerunning everything after it."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[3]
CONFIG = 'configs/osdtw/digits_lt/pipeline_mgp.py'
ENV = dict(os.environ, OMP_NUM_THREADS='1')
# MGP: 6 short epochs (about 16 iterations each), one warm-up epoch; the
# stages: 2 epochs at lr 0 (the epoch-1 checkpoints hold the initial
# weights), no refinement. The configs' default noise scale trains each
# stage-1 task again with the next seed; at lr 0 both seeds are the MGP
# encoder, the SGD noise is zero and the calibrated proxy would share
# nothing (C = 0: no stage 2), so C and w_A are given (the search still
# runs).
OPTIONS = [
    'train_cfg.mgp_cfg_options.train_cfg.max_epochs=6',
    'train_cfg.mgp_cfg_options.train_dataloader.batch_size=32',
    'train_cfg.mgp_cfg_options.param_scheduler.0.end=1',
    'train_cfg.mgp_cfg_options.param_scheduler.1.begin=1',
    'train_cfg.stage_cfg_options.train_cfg.max_epochs=2',
    'train_cfg.stage_cfg_options.optim_wrapper.optimizer.lr=0',
    'train_cfg.refine=None',
    'train_cfg.shared_depth=2',
    'train_cfg.head_weight=0.5',
]
STAGE1 = ('stage1_head', 'stage1_tail', 'stage1_head_seed2',
          'stage1_tail_seed2')
AFTER_MGP = STAGE1 + ('sgd_noise', 'fisher_cross', 'search', 'stage2',
                      'assemble', 'test')
EPOCH_1 = re.compile(r'Epoch\(train\)\s+\[1\]\[')


def train(work_dir: Path, log_file: Path, *options: str, **popen):
    """Start the pipeline; its output (with every step's log:
    ``--verbose``) goes to ``log_file``."""
    with open(log_file, 'w') as log:
        return subprocess.Popen([
            sys.executable, 'tools/train.py', CONFIG, '--work-dir',
            str(work_dir), '--verbose', '--cfg-options', *OPTIONS, *options
        ],
                                cwd=REPO,
                                env=ENV,
                                stdout=log,
                                stderr=subprocess.STDOUT,
                                **popen)


def run(work_dir: Path, log_file: Path, *options: str) -> str:
    """Run the pipeline to the end; its log."""
    proc = train(work_dir, log_file, *options)
    proc.wait(timeout=300)
    log = log_file.read_text()
    assert proc.returncode == 0, log[-5000:]
    return log


def mgp_part(log: str) -> str:
    """The log of the MGP step (up to the first stage-1 line)."""
    return log.split('[OSDTW] mgp: running')[1].split('[OSDTW] stage1_head')[0]


def state(path) -> dict:
    return torch.load(path, map_location='cpu',
                      weights_only=False)['state_dict']


def mgp_checkpoint(work_dir: Path) -> Path:
    done = json.loads((work_dir / 'mgp' / 'done.json').read_text())
    return work_dir / done['artifacts']['checkpoint']


def assert_stage1_starts_from(work_dir: Path, mgp: dict) -> None:
    """Every encoder tensor of both stage-1 task models, after an epoch at
    lr 0, is the MGP checkpoint's."""
    encoder = [k for k in mgp if k.startswith('backbone.')]
    assert len(encoder) > 50
    for task in ('head', 'tail'):
        ft = state(work_dir / f'stage1_{task}' / 'epoch_1.pth')
        for key in encoder:
            assert torch.equal(ft[key], mgp[key]), (task, key)


@pytest.fixture(scope='module')
def pipeline(tmp_path_factory):
    """Kill the pipeline during MGP (after its first epoch checkpoint), run
    it to the end, then once more unchanged."""
    tmp = tmp_path_factory.mktemp('pipeline_mgp')
    work_dir = tmp / 'work'
    first = train(work_dir, tmp / 'first.log', start_new_session=True)
    epoch_1 = work_dir / 'mgp' / 'epoch_1.pth'
    deadline = time.time() + 240
    while not epoch_1.exists() and first.poll() is None:
        assert time.time() < deadline, 'MGP wrote no epoch checkpoint'
        time.sleep(0.05)
    time.sleep(0.2)  # let the checkpoint file be complete
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert epoch_1.exists(), (tmp / 'first.log').read_text()[-3000:]
    assert not (work_dir / 'mgp' / 'done.json').exists(), \
        'MGP finished before the kill: the test resumed nothing'
    resumed = run(work_dir, tmp / 'resumed.log')
    again = run(work_dir, tmp / 'again.log')
    return tmp, work_dir, resumed, again


def test_mgp_resumes_from_its_last_epoch(pipeline):
    resumed = mgp_part(pipeline[2])
    assert '[OSDTW] mgp: running' in pipeline[2]
    assert 'resumed epoch' in resumed.lower()
    assert not EPOCH_1.search(resumed)  # epoch 1 was not trained again
    assert re.search(r'Epoch\(train\)\s+\[6\]\[', resumed)
    assert mgp_checkpoint(pipeline[1]).name == 'epoch_6.pth'


def test_stage1_starts_from_the_mgp_encoder(pipeline):
    work_dir, log = pipeline[1], pipeline[2]
    ckpt = mgp_checkpoint(work_dir)
    summary = f'tensors from {ckpt} into VisionTransformer; missing: []; ' \
        'unexpected: []'
    stage1 = log.split('[OSDTW] stage1_head: running')[1].split(
        '[OSDTW] fisher_cross')[0]
    assert stage1.count(summary) == 4  # head, tail and their second seeds
    assert summary in log.split('[OSDTW] stage2: running')[1]
    assert_stage1_starts_from(work_dir, state(ckpt))
    mgp_done = json.loads((work_dir / 'mgp' / 'done.json').read_text())
    assert mgp_done['artifacts']['checkpoint'] == 'mgp/epoch_6.pth'
    digest = mgp_done['files']['checkpoint']['sha256']
    for step in STAGE1 + ('stage2', ):
        key = json.loads((work_dir / step / 'done.json').read_text())['key']
        assert key['backbone_init'] == digest  # the content, not the path
    report = json.loads((work_dir / 'test' / 'report.json').read_text())
    assert 'mgp' in report['timings']


def test_a_finished_pipeline_is_not_redone(pipeline):
    again = pipeline[3]
    for step in ('mgp', ) + AFTER_MGP:
        assert f'[OSDTW] {step}: done, skipped' in again, step
    assert 'Epoch(train)' not in again


def test_a_changed_mgp_config_reruns_everything_after_it(pipeline):
    """Another MGP seed: MGP trains again from its first epoch (not resumed
    from the finished run), and every later step runs again, stage 1 from
    the new MGP checkpoint."""
    tmp, work_dir = pipeline[:2]
    old = state(mgp_checkpoint(work_dir))
    log = run(work_dir, tmp / 'changed.log',
              'train_cfg.mgp_cfg_options.randomness.seed=1')
    assert '[OSDTW] mgp: running' in log
    assert ('[OSDTW] mgp: the checkpoints in ' in log
            and 'come from other inputs; removed, training starts afresh'
            in log)
    assert EPOCH_1.search(mgp_part(log))
    for step in AFTER_MGP:
        assert f'[OSDTW] {step}: running' in log, step
    for step in STAGE1 + ('stage2', ):
        assert f'[OSDTW] {step}: the checkpoints in ' in log, step
    new = state(mgp_checkpoint(work_dir))
    assert not torch.equal(new['backbone.cls_token'], old['backbone.cls_token'])
    assert_stage1_starts_from(work_dir, new)


def one_line_error(work_dir: Path, init: Path) -> str:
    """The pipeline with ``train_cfg.init_backbone``: its error line."""
    proc = subprocess.run([
        sys.executable, 'tools/train.py', CONFIG, '--work-dir',
        str(work_dir), '--cfg-options', f'train_cfg.init_backbone={init}'
    ],
                          cwd=REPO,
                          env=ENV,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert 'Epoch(train)' not in proc.stdout + proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('error: train_cfg.'), last
    return last


def test_a_missing_init_backbone_is_a_one_line_error(tmp_path):
    last = one_line_error(tmp_path / 'work', tmp_path / 'absent.pth')
    assert 'train_cfg.init_backbone' in last and 'absent.pth' in last
    assert 'does not exist' in last


def test_mgp_and_init_backbone_together_is_an_error(tmp_path):
    init = tmp_path / 'mgp.pth'
    init.write_bytes(b'not read')
    last = one_line_error(tmp_path / 'work', init)
    assert 'train_cfg.mgp and train_cfg.init_backbone both set' in last


def test_the_displacement_noise_scale_needs_no_second_run(pipeline):
    """train_cfg.noise_scale='displacement': each stage-1 model's squared
    move from the MGP checkpoint calibrates the search's N; no stage-1
    config trains twice."""
    import shutil
    tmp, source = pipeline[:2]
    work_dir = tmp / 'displacement'
    shutil.copytree(source, work_dir)
    log = run(work_dir, tmp / 'displacement.log',
              'train_cfg.stage_cfg_options.optim_wrapper.optimizer.lr=0.001',
              "train_cfg.noise_scale='displacement'")
    assert '[OSDTW] sgd_noise: running' in log
    assert 'stage1_head_seed2' not in log
    noise = torch.load(work_dir / 'sgd_noise' / 'fisher_head_sgd.pth')
    assert noise['meta']['sgd_noise_from']['displacement_from'] == str(
        mgp_checkpoint(work_dir))
    body = [v for k, v in noise['sgd_noise'].items()
            if k.startswith('backbone.layers.')]
    assert body and all(bool(v.ge(0).all()) for v in body)
    assert any(bool(v.gt(0).any()) for v in body)
    search = json.loads((work_dir / 'search' / 'search.json').read_text())
    assert search['noise_scale'] == 'sgd'
    assert search['N'] != search['N_data']
