"""tools/train.py on a single config, interrupted from outside (SIGINT as
Ctrl-C sends it, SIGTERM as a job scheduler does) after its first epoch
checkpoint: one line on stderr naming the config and the epoch, exit code
130, no traceback."""
import re
import signal
import subprocess
import sys
import time

import pytest
from _tools import ENV, REPO
from _toy_images import toy_config, write_toy_dataset

BASE = REPO / 'configs/baselines/digits_lt/vit-nano-p2_bal-bce.py'


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_training_says_how_to_resume(tmp_path, signum):
    config = tmp_path / 'toy_bal-bce.py'
    config.write_text(
        toy_config(write_toy_dataset(tmp_path / 'data'), BASE,
                   train_cfg='dict(max_epochs=200, val_interval=200)'))
    work_dir = tmp_path / 'work'
    with open(tmp_path / 'out', 'w') as out, open(tmp_path / 'err',
                                                  'w') as err:
        proc = subprocess.Popen([
            sys.executable, 'tools/train.py',
            str(config), '--work-dir',
            str(work_dir)
        ],
                                cwd=REPO,
                                env=ENV,
                                stdout=out,
                                stderr=err)
        deadline = time.time() + 240
        while not (work_dir / 'epoch_1.pth').exists():
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.05)
        proc.send_signal(signum)
        proc.wait(timeout=120)
    stderr = (tmp_path / 'err').read_text()
    assert proc.returncode == 130, stderr[-3000:]
    assert re.fullmatch(
        r'interrupted in toy_bal-bce, epoch \d+; rerun the same command '
        r'with --resume to resume\n', stderr), stderr
