"""``train_cfg.choose='validation'``: ``(C, w_A)`` chosen on a held-out
split. The settings checks (in-process, no training), and the shipped
Digits-LT ``pipeline_validation.py`` end to end with tiny schedules (the
``test_e2e_*`` tests, slow): killed mid-validation and resumed, the stage-2
model at the chosen ``w_A`` trained once, and a changed
``validation.weights`` rerunning only what depends on it."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mmengine.config import Config

from mmpretrain_osdtw.engine.runner.stage_runner import (
    StageRunner, check_pipeline_settings)
from mmpretrain_osdtw.osdtw.validation_choice import choose_cell
from mmpretrain_osdtw.utils import InputError

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / 'configs/osdtw/digits_lt/pipeline_validation.py'
ENV = dict(os.environ, OMP_NUM_THREADS='1')
# 2 epochs a stage, no refinement, 3 depths x 2 weights: 5 cells
OPTIONS = (
    'train_cfg.stage_cfg_options.train_cfg.max_epochs=2',
    'train_cfg.stage_cfg_options.train_cfg.val_interval=2',
    'train_cfg.refine=None',
    'train_cfg.validation.depths=[0,2,4]',
    'train_cfg.validation.weights=[0.3,0.7]',
)
FIRST_STEPS = ('stage1_head', 'stage1_tail', 'fisher_cross', 'search')
TEST_SET = dict(type='SklearnDigits', split='test',
                pipeline=[dict(type='PackInputs')])


# ------------------------------------------------------------ settings
def runner(tmp_path, choose='validation', **train_cfg):
    """The StageRunner of the shipped config with ``train_cfg`` changed
    (``validation`` entries merged into its dict)."""
    cfg = Config.fromfile(str(CONFIG))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_cfg.choose = choose
    for key, value in train_cfg.items():
        if key == 'validation':
            cfg.train_cfg.validation.update(value)
        else:
            cfg.train_cfg[key] = value
    return StageRunner.from_cfg(cfg)


def one_line_error(tmp_path, **train_cfg) -> str:
    with pytest.raises(InputError) as err:
        runner(tmp_path, **train_cfg)
    assert '\n' not in str(err.value)
    assert not (tmp_path / 'work').exists()  # before anything ran
    return str(err.value)


def test_the_steps_of_each_mode(tmp_path):
    steps = runner(tmp_path).step_names
    assert steps == (
        'stage1_head', 'stage1_tail', 'fisher_cross', 'search',
        'validation_stage2_w0.3', 'validation_stage2_w0.5',
        'validation_stage2_w0.7', 'validation', 'stage2', 'assemble',
        'refine', 'test')
    proxy = runner(tmp_path, choose='proxy').step_names
    assert proxy == tuple(s for s in steps if not s.startswith('valid'))


def test_a_typo_is_one_line(tmp_path):
    assert one_line_error(tmp_path, validation=dict(weigths=[0.5])) == (
        'train_cfg.validation.weigths is not a setting of the validation '
        "choice (did you mean 'weights'?)")
    with pytest.raises(InputError, match="did you mean 'choose'"):
        check_pipeline_settings(dict(type='StageRunner', chose='proxy'))


def test_a_depth_beyond_the_vit_is_one_line(tmp_path):
    assert one_line_error(tmp_path, validation=dict(depths=[0, 9])) == (
        'train_cfg.validation.depths holds 9, outside 0..4 (the ViT has 4 '
        'blocks)')


def test_bad_values_are_one_line(tmp_path):
    assert 'train_cfg.validation.weights must hold numbers in (0, 1), ' \
        'got 0' in one_line_error(tmp_path, validation=dict(weights=[0, .5]))
    assert "train_cfg.validation.metric must be one of" in one_line_error(
        tmp_path, validation=dict(metric='acc'))
    assert one_line_error(tmp_path, stage2_mode='exact').startswith(
        "train_cfg.choose='validation' needs train_cfg.stage2_mode="
        "'truncate'")


def test_the_test_set_is_no_validation_set(tmp_path):
    cfg = Config.fromfile(str(CONFIG))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_cfg.validation.dataset = TEST_SET
    with pytest.raises(InputError) as err:
        StageRunner.from_cfg(cfg)
    assert str(err.value).startswith(
        'train_cfg.validation.dataset is the test set of '
        'train_cfg.stage1_head (its test_dataloader.dataset)')


# --------------------------------------------------------- end to end
def train(work_dir: Path, log_file: Path, *options: str, **popen):
    """Start the pipeline; its console output goes to ``log_file``."""
    with open(log_file, 'w') as log:
        return subprocess.Popen(
            [sys.executable, 'tools/train.py', str(CONFIG), '--work-dir',
             str(work_dir), '--cfg-options', *OPTIONS, *options],
            cwd=REPO, env=ENV, stdout=log, stderr=subprocess.STDOUT, **popen)


def finish(work_dir: Path, log_file: Path, *options: str) -> str:
    proc = train(work_dir, log_file, *options)
    proc.wait(timeout=600)
    log = log_file.read_text()
    assert proc.returncode == 0, log[-5000:]
    return log


def read(work_dir: Path, *parts: str) -> dict:
    return json.loads(work_dir.joinpath(*parts).read_text())


@pytest.fixture(scope='module')
def killed_then_resumed(tmp_path_factory):
    """Run the pipeline, kill it once two validation cells are scored, run
    it again to its end: ``(work_dir, log of the second run)``."""
    tmp = tmp_path_factory.mktemp('validation')
    work_dir = tmp / 'work'
    first = train(work_dir, tmp / 'first.log', start_new_session=True)
    second_cell = work_dir / 'validation' / 'cells' / 'C2_w0.3.json'
    deadline = time.time() + 400
    while not second_cell.exists() and first.poll() is None:
        assert time.time() < deadline, 'pipeline did not reach validation'
        time.sleep(0.05)
    if first.poll() is None:
        os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert second_cell.exists(), (tmp / 'first.log').read_text()[-3000:]
    assert not (work_dir / 'validation' / 'done.json').exists()
    return work_dir, finish(work_dir, tmp / 'second.log')


def test_e2e_resume_reuses_finished_steps_and_cells(killed_then_resumed):
    work_dir, log = killed_then_resumed
    for step in FIRST_STEPS + ('validation_stage2_w0.3',
                               'validation_stage2_w0.7'):
        assert f'[OSDTW] {step}: done, skipped' in log, step
    assert '[OSDTW] validation: running' in log
    cells = read(work_dir, 'validation', 'validation_choice.json')['cells']
    reused = {(c['C'], c['w_A']) for c in cells if c['reused']}
    assert {(0, None), (2, 0.3)} <= reused
    assert (4, 0.7) not in reused


def test_e2e_the_choice_and_its_report(killed_then_resumed):
    work_dir = killed_then_resumed[0]
    result = read(work_dir, 'validation', 'validation_choice.json')
    assert [(c['C'], c['w_A']) for c in result['cells']] == [
        (0, None), (2, 0.3), (2, 0.7), (4, 0.3), (4, 0.7)]
    assert result['metric'] == 'top1' and result['L'] == 4
    assert result['chosen'] == choose_cell(result['cells'], 'top1',
                                           [0.3, 0.7])
    assert set(result['seconds']) == {'assemble', 'evaluate', 'total'}
    assert (work_dir / 'validation' / 'validation_heatmap.png').is_file()
    assert not list((work_dir / 'validation' / 'cells').glob('*.pth'))
    report = read(work_dir, 'test', 'report.json')
    chosen = result['chosen']
    assert report['chosen'] == dict(shared_depth=chosen['C'],
                                    head_weight=chosen['w_A'], num_layers=4)
    info = report['choice_info']
    assert info['by'] == 'validation' and info['cells'] == 5
    assert info['proxy']['C'] == read(work_dir, 'search',
                                      'search.json')['chosen']['C']
    assert {'validation_stage2_w0.3', 'validation_stage2_w0.7',
            'validation', 'stage2'} <= set(report['timings'])
    assert 'Chosen on the validation split' in (
        work_dir / 'test' / 'report.md').read_text()


def test_e2e_stage2_at_the_chosen_weight_trains_once(killed_then_resumed):
    work_dir = killed_then_resumed[0]
    chosen = read(work_dir, 'validation', 'validation_choice.json')['chosen']
    stage2 = read(work_dir, 'stage2', 'done.json')
    assert not list((work_dir / 'stage2').glob('epoch_*.pth'))
    if chosen['C'] == 0:  # nothing shared: no stage-2 model at all
        assert stage2['skipped'] is True
        return
    step = f"validation_stage2_w{chosen['w_A']:g}"
    assert stage2['reused'] == step
    assert stage2['artifacts']['checkpoint'].startswith(step + '/')
    assert stage2['key'] == read(work_dir, step, 'done.json')['key']


def test_e2e_more_weights_rerun_only_what_depends_on_them(
        killed_then_resumed, tmp_path):
    """A third weight: one more stage-2 training, the validation step
    scores only the new cells; the override C=2 keeps priority and stage 2
    is still the validation step's model."""
    work_dir = tmp_path / 'work'
    shutil.copytree(killed_then_resumed[0], work_dir)
    log = finish(work_dir, tmp_path / 'more.log',
                 'train_cfg.validation.weights=[0.3,0.5,0.7]',
                 'train_cfg.shared_depth=2')
    for step in FIRST_STEPS + ('validation_stage2_w0.3',
                               'validation_stage2_w0.7'):
        assert f'[OSDTW] {step}: done, skipped' in log, step
    assert '[OSDTW] validation_stage2_w0.5: running' in log
    assert '[OSDTW] validation: stage2 changed; validation changed; the ' \
        'step runs again' in log
    cells = read(work_dir, 'validation', 'validation_choice.json')['cells']
    fresh = {(c['C'], c['w_A']) for c in cells if not c['reused']}
    assert fresh == {(2, 0.5), (4, 0.5)}
    report = read(work_dir, 'test', 'report.json')
    assert report['chosen']['shared_depth'] == 2
    assert report['choice_info']['override']['shared_depth'] == 2
    weight = report['chosen']['head_weight']
    stage2 = read(work_dir, 'stage2', 'done.json')
    assert stage2['reused'] == f'validation_stage2_w{weight:g}'
    if '[OSDTW] stage2: running' in log:  # another w_A than before
        assert 'not trained again' in log
    assert not list((work_dir / 'stage2').glob('epoch_*.pth'))


def test_e2e_the_command_line_refuses_the_test_set(tmp_path):
    """The error of tools/train.py is one line on stderr, exit code 2."""
    stages = {k: str(CONFIG.parent / v) for k, v in dict(
        stage1_head='stage1_head.py', stage1_tail='stage1_tail.py',
        stage2='stage2_joint.py', assemble='stage3_assemble.py',
        refine='stage3_refine.py').items()}
    config = tmp_path / 'pipeline.py'
    config.write_text(
        f'_base_ = {str(CONFIG)!r}\n'
        f'train_cfg = dict(validation=dict(dataset=dict(_delete_=True, '
        f'**{TEST_SET!r})), **{stages!r})\n')
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', str(config), '--work-dir',
         str(tmp_path / 'work')],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        'error: train_cfg.validation.dataset is the test set of '
        'train_cfg.stage1_head (its test_dataloader.dataset): choosing on it '
        "would leak the test set; give a held-out split, e.g. "
        "LongTailedDataset(split='heldout', ...)"]
