"""The work dir's lock and the step folders' checkpoints."""
import os
import subprocess
import sys
import time

import pytest

from mmpretrain_osdtw.engine.runner.work_dir import (WorkDirLock,
                                                     checkpoint_number,
                                                     latest_checkpoint,
                                                     remove_checkpoints,
                                                     step_checkpoints)
from mmpretrain_osdtw.utils import InputError


def touch(path, text='x'):
    path.write_text(text)
    return str(path)


def test_checkpoints_are_resolved_inside_the_folder(tmp_path):
    for n in (1, 2, 10):
        touch(tmp_path / f'epoch_{n}.pth')
    assert checkpoint_number(str(tmp_path / 'epoch_10.pth')) == 10
    assert step_checkpoints(str(tmp_path)) == [
        str(tmp_path / f'epoch_{n}.pth') for n in (10, 2, 1)]
    # mmengine's last_checkpoint names a file of the folder it was written
    # in (here: a moved folder): only its name counts
    touch(tmp_path / 'last_checkpoint', '/elsewhere/old_dir/epoch_2.pth')
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_2.pth')
    touch(tmp_path / 'last_checkpoint', '/elsewhere/old_dir/epoch_7.pth')
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_10.pth')
    removed = remove_checkpoints(str(tmp_path))
    assert len(removed) == 3 and os.listdir(tmp_path) == []
    assert latest_checkpoint(str(tmp_path)) is None


def test_the_lock_is_exclusive_and_released(tmp_path):
    first = WorkDirLock(str(tmp_path / 'run'))
    first.acquire()
    assert (tmp_path / 'run' / '.lock').read_text() == f'{os.getpid()}\n'
    # flock locks belong to the open file: a second one in this process
    # conflicts too
    with pytest.raises(InputError, match=rf'in use by another run \(PID '
                       rf'{os.getpid()}'):
        WorkDirLock(str(tmp_path / 'run')).acquire()
    first.release()
    with WorkDirLock(str(tmp_path / 'run')):
        pass


def test_a_killed_holders_lock_is_no_obstacle(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, '-c',
         'import time\n'
         'from mmpretrain_osdtw.engine.runner.work_dir import WorkDirLock\n'
         f'WorkDirLock({str(tmp_path)!r}).acquire()\n'
         'print("locked", flush=True)\n'
         'time.sleep(600)\n'],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == 'locked'
    with pytest.raises(InputError, match=f'PID {holder.pid}'):
        WorkDirLock(str(tmp_path)).acquire()
    holder.kill()
    holder.wait()
    deadline = time.time() + 10
    while True:  # the kernel drops the lock with the process
        try:
            WorkDirLock(str(tmp_path)).acquire()
            break
        except InputError:
            assert time.time() < deadline
            time.sleep(0.1)
