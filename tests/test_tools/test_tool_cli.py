"""tools/tool_cli.py: the thread default, the one-line errors for a missing
config or checkpoint (closest path, the folder's checkpoints), and both
tools answering ``--help`` and a wrong path without importing torch or
mmengine."""
import argparse
import os
import sys

import pytest
from _tools import ENV, REPO, TOOLS, run_tool

sys.path.insert(0, str(TOOLS))
from tool_cli import (LazyDictAction, default_test_work_dir,  # noqa: E402
                      default_threads, missing_file, set_default_threads)

BASE = 'configs/baselines/digits_lt/vit-nano-p2_bal-bce.py'


@pytest.mark.parametrize('cpus, threads', [(1, 1), (2, 1), (4, None),
                                           (16, None)])
def test_few_cpus_train_with_one_thread(cpus, threads):
    assert default_threads(cpus) == threads


def test_the_users_threads_win():
    environ = dict(OMP_NUM_THREADS='2')
    assert set_default_threads(environ, cpus=2) is None
    assert environ == dict(OMP_NUM_THREADS='2')
    environ = {}
    assert set_default_threads(environ, cpus=2) == 1
    assert environ == dict(OMP_NUM_THREADS='1')
    environ = {}
    assert set_default_threads(environ, cpus=16) is None
    assert environ == {}  # torch's default


def test_a_misspelled_config_gets_the_closest_one(monkeypatch):
    monkeypatch.chdir(REPO)
    assert missing_file(BASE, 'config file', '.py') is None
    assert missing_file('configs/baseline/digit_lt/vit-nano-p2_bal-bc.py',
                        'config file', '.py') == (
        "config file 'configs/baseline/digit_lt/vit-nano-p2_bal-bc.py' "
        f"does not exist (did you mean '{BASE}'?)")
    assert missing_file('configs/nope.py', 'config file', '.py') == \
        "config file 'configs/nope.py' does not exist"
    assert missing_file('configs', 'config file', '.py') == \
        "config file 'configs' is a folder, not a file"


def test_a_missing_checkpoint_names_what_its_folder_holds(tmp_path):
    run = tmp_path / 'run'
    run.mkdir()
    for name in ('epoch_59.pth', 'epoch_60.pth', 'last_checkpoint'):
        (run / name).touch()
    (run / '20261207_120000').mkdir()
    line = missing_file(str(run / 'epoch_6.pth'), 'checkpoint', '.pth', True)
    assert line == (
        f"checkpoint '{run}/epoch_6.pth' does not exist (did you mean "
        f"'{run}/epoch_60.pth'?); {run} holds epoch_59.pth, epoch_60.pth")
    line = missing_file(str(tmp_path / 'rn/epoch_60.pth'), 'checkpoint',
                        '.pth', True)
    assert line.endswith(f"(did you mean '{run}/epoch_60.pth'?); {run} "
                         'holds epoch_59.pth, epoch_60.pth')
    assert missing_file(str(tmp_path / 'x/y/a.pth'), 'checkpoint', '.pth',
                        True).endswith(f'; folder {tmp_path}/x/y does not '
                                       'exist')


def test_a_long_folder_is_listed_in_natural_order(tmp_path):
    for epoch in range(1, 13):
        (tmp_path / f'epoch_{epoch}.pth').touch()
    line = missing_file(str(tmp_path / 'best.pth'), 'checkpoint', '.pth',
                        True)
    assert line.endswith(
        f'; {tmp_path} holds epoch_1.pth, epoch_2.pth, ..., epoch_8.pth, '
        'epoch_9.pth, epoch_10.pth, epoch_11.pth, epoch_12.pth (12 files)')


def test_test_logs_go_beside_the_checkpoint_if_they_can(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'work_dirs/run').mkdir(parents=True)
    config = BASE
    assert default_test_work_dir(config, 'work_dirs/run/epoch_60.pth') == \
        'work_dirs/run/test_vit-nano-p2_bal-bce'
    assert default_test_work_dir(config, 'epoch_60.pth') == \
        'test_vit-nano-p2_bal-bce'
    monkeypatch.setattr(os, 'access', lambda path, mode: False)  # read-only
    assert default_test_work_dir(config, '../shared/ckpt/epoch_60.pth') == \
        'work_dirs/test_vit-nano-p2_bal-bce'


def test_cfg_options_parse_as_mmengine_parses_them():
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=LazyDictAction)
    args = parser.parse_args(
        ['--cfg-options', 'a.b=3', 'c=[1,2]', "d='x'", 'e=None'])
    assert args.cfg_options == {'a.b': 3, 'c': [1, 2], 'd': 'x', 'e': None}


@pytest.fixture
def no_heavy_imports(tmp_path):
    """An environment in which importing torch or mmengine fails."""
    for name in ('torch', 'mmengine', 'mmpretrain'):
        (tmp_path / name).mkdir()
        (tmp_path / name / '__init__.py').write_text(
            f'raise ImportError("{name} was imported")\n')
    return dict(ENV, PYTHONPATH=os.pathsep.join(
        [str(tmp_path), str(REPO), ENV.get('PYTHONPATH', '')]))


@pytest.mark.parametrize('args, code, out', [
    (['tools/train.py', '--help'], 0, 'usage: train.py'),
    (['tools/test.py', '--help'], 0, 'usage: test.py'),
    (['tools/train.py', BASE[:-4] + '.py'], 2,
     f"does not exist (did you mean '{BASE}'?)"),
    (['tools/train.py', BASE, '--resume', 'work_dirs/nope/epoch_1.pth'], 2,
     "--resume: checkpoint 'work_dirs/nope/epoch_1.pth' does not exist"),
    (['tools/test.py', BASE, 'nope.pth'], 2,
     "error: checkpoint 'nope.pth' does not exist; the current folder "
     'holds no .pth file'),
])
def test_the_tools_answer_before_importing_torch(no_heavy_imports, args,
                                                 code, out):
    proc = run_tool(*args, check=False, timeout=60, env=no_heavy_imports)
    assert proc.returncode == code, proc.stderr
    assert out in proc.stdout + proc.stderr
    if code == 2:
        assert proc.stderr.count('\n') == 1  # one line
