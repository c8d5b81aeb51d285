"""discard_logs_on_input_error: a call that fails on its input before it
trains leaves no log folder; a call that wrote anything else, an earlier
run's logs and any other error keep everything."""
import pytest

from mmpretrain_osdtw.engine.runner.log_cleanup import \
    discard_logs_on_input_error
from mmpretrain_osdtw.utils import InputError


def files(root):
    return sorted(
        str(p.relative_to(root)) for p in root.rglob('*') if p.is_file())


def write(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('x')


def fail_after_writing(work_dir, *paths, error=InputError):
    """Write ``paths`` below ``work_dir`` inside the block, then fail."""
    with pytest.raises(error):
        with discard_logs_on_input_error(str(work_dir)):
            for path in paths:
                write(work_dir / path)
            raise error('refused')


def test_a_refused_run_leaves_nothing(tmp_path):
    work_dir = tmp_path / 'work'
    fail_after_writing(work_dir, '20261207_120000/20261207_120000.log',
                       '20261207_120000/vis_data/config.py',
                       'toy_bal-bce.py')  # the Runner's config dump
    assert not work_dir.exists()


def test_earlier_runs_stay(tmp_path):
    work_dir = tmp_path / 'work'
    write(work_dir / '20261207_110000/20261207_110000.log')
    write(work_dir / 'epoch_1.pth')
    fail_after_writing(work_dir, '20261207_120000/20261207_120000.log')
    assert files(work_dir) == [
        '20261207_110000/20261207_110000.log', 'epoch_1.pth'
    ]


def test_a_pipeline_refused_in_its_first_step_leaves_nothing(tmp_path):
    work_dir = tmp_path / 'pipe'
    fail_after_writing(work_dir, '.lock', 'logs/20261207_120000.log',
                       'logs/20261207_120000_config.py',
                       'stage1_head/started.json',
                       'stage1_head/20261207_120001/x.log',
                       'stage1_head/stage1_head.py')
    assert not work_dir.exists()


def test_a_call_that_wrote_more_than_logs_keeps_it_all(tmp_path):
    work_dir = tmp_path / 'pipe'
    written = ['logs/20261207_120000.log', 'stage1_head/done.json',
               'stage1_head/epoch_1.pth']
    fail_after_writing(work_dir, *written)
    assert files(work_dir) == written


def test_other_errors_keep_the_logs(tmp_path):
    work_dir = tmp_path / 'work'
    fail_after_writing(work_dir, '20261207_120000/20261207_120000.log',
                       error=RuntimeError)
    assert files(work_dir) == ['20261207_120000/20261207_120000.log']
