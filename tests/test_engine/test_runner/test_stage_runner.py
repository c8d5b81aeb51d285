"""The OSDTW pipeline end to end on a long-tailed image set written to disk
by the test: every step's artifacts, the report, evaluation of the assembled
checkpoint with tools/test.py, and resume after a kill following stage 2."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from _toy_images import CLASSES, write_toy_dataset

REPO = Path(__file__).resolve().parents[3]
STAGES = REPO / 'configs/osdtw/digits_lt'
# tests/ on the path: configs may import test-only modules (_interrupt_hook)
ENV = dict(
    os.environ,
    OMP_NUM_THREADS='1',
    PYTHONPATH=os.pathsep.join(
        [str(REPO / 'tests'), os.environ.get('PYTHONPATH', str(REPO))]))
PIPELINE = "[dict(type='LoadImageFromFile'), dict(type='PackInputs')]"


def data_lines(data_root: Path,
               wrapped: bool,
               train_pipeline: str = PIPELINE) -> list:
    """Overrides pointing a digits stage config at the toy image folders."""
    train = (f"dict(type='LongTailedDataset', imb_ratio=5, dataset=dict("
             f"type='CustomDataset', data_root={str(data_root)!r}, "
             f"data_prefix='train', metainfo=dict(classes={CLASSES!r}), "
             f"pipeline={train_pipeline}))")
    if wrapped:  # stage 1: HeadTailSplit(dataset=...)
        train_loader = (f"train_dataloader = dict(batch_size=8, dataset="
                        f"dict(dataset=dict(_delete_=True, **{train})))")
    else:
        train_loader = (f"train_dataloader = dict(batch_size=8, dataset="
                        f"dict(_delete_=True, **{train}))")
    return [
        'data_preprocessor = dict(num_classes=4)',
        'model = dict(head=dict(num_classes=4))',
        train_loader,
        'val_dataloader = dict(batch_size=16, dataset=dict(_delete_=True, '
        f"type='CustomDataset', data_root={str(data_root)!r}, "
        f"data_prefix='test', metainfo=dict(classes={CLASSES!r}), "
        f'pipeline={PIPELINE}))',
        'test_dataloader = val_dataloader',
        'val_evaluator = dict(many_thr=10, few_thr=5)',
        'test_evaluator = val_evaluator',
        'train_cfg = dict(max_epochs=2, val_interval=2)',
    ]


def write_configs(folder: Path,
                  data_root: Path,
                  train_pipeline: str = PIPELINE,
                  extra: tuple = ()) -> Path:
    """Each stage config of the repo's digits pipeline, re-pointed at the
    toy data (``extra``: more lines for each); the pipeline config resolves
    them next to itself."""
    for name in ('stage1_head', 'stage1_tail', 'stage2_joint',
                 'stage3_assemble', 'stage3_refine'):
        lines = [f'_base_ = {str(STAGES / (name + ".py"))!r}']
        lines += data_lines(
            data_root, name.startswith('stage1'), train_pipeline) + list(extra)
        (folder / f'{name}.py').write_text('\n'.join(lines) + '\n')
    (folder / 'stage1_pair.py').write_text(
        "_base_ = './stage1_head.py'\n"
        "model = dict(_delete_=True, type='TaskPairClassifier', "
        "model={{_base_.model}})\n"
        "train_dataloader = dict(dataset=dict(task='both'))\n"
        "custom_hooks = [dict(type='ClassCountsHook')]\n")
    # The derivation's noise scale: on the toy data it chooses C > 0, so
    # stage 2 trains (the kill after it, the resume); the configs' default
    # ('second_seed') has its own test below.
    (folder / 'pipeline.py'
     ).write_text(f'_base_ = {str(STAGES / "pipeline.py")!r}\n' +
                  '\n'.join(data_lines(data_root, wrapped=True)[:3]) +
                  "\ntrain_cfg = dict(noise_scale='asymptotic', "
                  "search=dict(w_step=0.05, "
                  "mismatch='debiased-positive'))\n")
    return folder / 'pipeline.py'


def train(config: Path,
          work_dir: Path,
          log_file: Path,
          *options,
          env: dict = None,
          stderr=subprocess.STDOUT,
          **popen):
    """Start tools/train.py; its output goes to ``log_file`` (a pipe that
    nobody reads while we poll would fill up and block the child), its
    stderr too unless ``stderr`` is another file."""
    with open(log_file, 'w') as log:
        return subprocess.Popen([
            sys.executable, 'tools/train.py',
            str(config), '--work-dir',
            str(work_dir), *options
        ],
                                cwd=REPO,
                                env=env or ENV,
                                stdout=log,
                                stderr=stderr,
                                **popen)


def run_pipeline(config: Path, work_dir: Path, log_file: Path,
                 *options) -> tuple:
    """Run tools/train.py to the end; ``(exit code, log text)``."""
    proc = train(config, work_dir, log_file, *options)
    proc.wait(timeout=300)
    return proc.returncode, log_file.read_text()


def artifact(work_dir: Path, step: str, name: str) -> str:
    """A step's artifact; done.json holds it relative to the work dir."""
    path = json.loads(
        (work_dir / step / 'done.json').read_text())['artifacts'][name]
    assert not os.path.isabs(path), path
    return str(work_dir / path)


@pytest.fixture(scope='module')
def killed_then_resumed(tmp_path_factory):
    """Run the pipeline, kill it once stage 2 is done, run it again."""
    tmp = tmp_path_factory.mktemp('pipeline')
    config = write_configs(tmp, write_toy_dataset(tmp / 'data'))
    work_dir = tmp / 'work'
    first = train(config, work_dir, tmp / 'first.log', start_new_session=True)
    stage2_done = work_dir / 'stage2' / 'done.json'
    deadline = time.time() + 240
    while not stage2_done.exists() and first.poll() is None:
        assert time.time() < deadline, 'pipeline did not reach stage 2'
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert stage2_done.exists(), (tmp / 'first.log').read_text()[-3000:]
    stage1_ckpt = artifact(work_dir, 'stage1_head', 'checkpoint')
    stage1_mtime = os.path.getmtime(stage1_ckpt)

    code, log = run_pipeline(config, work_dir, tmp / 'second.log')
    assert code == 0, log[-5000:]
    return work_dir, log, stage1_ckpt, stage1_mtime


def test_resume_skips_finished_steps(killed_then_resumed):
    work_dir, log, stage1_ckpt, stage1_mtime = killed_then_resumed
    for step in ('stage1_head', 'stage1_tail', 'fisher_cross', 'search',
                 'stage2'):
        assert f'[OSDTW] {step}: done, skipped' in log
    assert '[OSDTW] test: running' in log
    assert os.path.getmtime(stage1_ckpt) == stage1_mtime


def test_a_moved_work_dir_resumes(killed_then_resumed, tmp_path):
    """done.json paths are relative: a copy of a finished work dir (the
    original removed from view by renaming) skips every step."""
    import shutil
    source = killed_then_resumed[0]
    moved = tmp_path / 'moved'
    shutil.copytree(source, moved)
    hidden = source.with_name(source.name + '_hidden')
    source.rename(hidden)
    try:
        code, log = run_pipeline(source.parent / 'pipeline.py', moved,
                                 tmp_path / 'moved.log')
    finally:
        hidden.rename(source)
    assert code == 0, log[-5000:]
    for step in ('stage1_head', 'stage1_tail', 'fisher_cross', 'search',
                 'stage2', 'assemble', 'refine', 'test'):
        assert f'[OSDTW] {step}: done, skipped' in log, step


def test_every_step_leaves_its_artifacts(killed_then_resumed):
    work_dir = killed_then_resumed[0]
    for step in ('stage1_head', 'stage1_tail', 'fisher_cross', 'search',
                 'stage2', 'assemble', 'refine', 'test'):
        done = json.loads((work_dir / step / 'done.json').read_text())
        for name in done['artifacts']:
            assert Path(artifact(work_dir, step, name)).is_file(), (step,
                                                                    name)
    search = json.loads((work_dir / 'search' / 'search.json').read_text())
    assert 0 <= search['chosen']['C'] <= 4
    assert 0.05 <= search['chosen']['w_A'] <= 0.95
    assert len(search['grid']['proxy']) == 5  # C = 0..L
    fisher = torch.load(work_dir / 'stage1_head' / 'fisher_head.pth')
    assert fisher['num_samples'] == 41  # 20 + 11 + 6 + 4


def test_report_lists_every_model(killed_then_resumed):
    work_dir, log = killed_then_resumed[:2]
    report = json.loads((work_dir / 'test' / 'report.json').read_text())
    assert list(report['models']) == [
        'OSDTW (assembled + refined)', 'OSDTW (assembled)', 'stage 2 (joint)',
        'stage 1 pair (C=0)', 'stage 1 head task', 'stage 1 tail task'
    ]
    for metrics in report['models'].values():
        assert {'lt/top1', 'lt/many', 'lt/head_acc'} <= set(metrics)
    assert '| OSDTW (assembled + refined) |' in log


def test_assembled_checkpoint_evaluates_with_test_tool(killed_then_resumed,
                                                       tmp_path):
    assemble = killed_then_resumed[0] / 'assemble'
    proc = subprocess.run([
        sys.executable, 'tools/test.py',
        str(assemble / 'assembled_config.py'),
        str(assemble / 'assembled.pth'), '--work-dir',
        str(tmp_path)
    ],
                          cwd=REPO,
                          env=ENV,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '| model | Top-1 |' in proc.stdout


def test_exact_mode_shares_exactly_c_blocks(killed_then_resumed, tmp_path):
    """stage2_mode='exact' with C=2: stage 2 trains a DualDecoderClassifier
    with 2 shared blocks whose decoders start from stage 1; the stage-1
    steps of the finished run are reused (copied work dir)."""
    import shutil
    work_dir = tmp_path / 'work'
    source = killed_then_resumed[0]
    for step in ('stage1_head', 'stage1_tail', 'fisher_cross', 'search'):
        shutil.copytree(source / step, work_dir / step)
    config = source.parent / 'pipeline.py'
    code, log = run_pipeline(config, work_dir, tmp_path / 'exact.log',
                             '--cfg-options', 'train_cfg.stage2_mode=exact',
                             'train_cfg.shared_depth=2',
                             'train_cfg.refine=None')
    assert code == 0, log[-5000:]
    assert '[OSDTW] stage1_head: done, skipped' in log
    assert '[OSDTW] stage2: running' in log
    init = torch.load(work_dir / 'stage2' / 'init_from_stage1.pth')
    stage1 = torch.load(
        artifact(source, 'stage1_head', 'checkpoint'), weights_only=False)
    torch.testing.assert_close(
        init['state_dict']['decoders.head.layers.3.ffn.layers.1.weight'],
        stage1['state_dict']['backbone.layers.3.ffn.layers.1.weight'])
    stage2 = json.loads((work_dir / 'stage2' / 'done.json').read_text())
    assert stage2['key']['shared_depth'] == 2
    state = torch.load(
        artifact(work_dir, 'stage2', 'checkpoint'),
        weights_only=False)['state_dict']
    assert 'backbone.layers.1.ln1.weight' in state
    assert 'backbone.layers.2.ln1.weight' not in state
    report = json.loads((work_dir / 'test' / 'report.json').read_text())
    assert report['chosen']['shared_depth'] == 2
    assert 'OSDTW (assembled + refined)' not in report['models']


def test_shared_depth_beyond_the_vit_is_a_clear_error(killed_then_resumed,
                                                      tmp_path):
    import shutil
    work_dir = tmp_path / 'work'
    source = killed_then_resumed[0]
    for step in ('stage1_head', 'stage1_tail', 'fisher_cross', 'search'):
        shutil.copytree(source / step, work_dir / step)
    code, log = run_pipeline(source.parent / 'pipeline.py', work_dir,
                             tmp_path / 'bad.log', '--cfg-options',
                             'train_cfg.shared_depth=9')
    assert code != 0
    assert 'train_cfg.shared_depth=9 is outside 0..4' in log
    assert not (work_dir / 'stage2').exists()


def test_fisher_max_samples_reaches_every_pass(killed_then_resumed, tmp_path):
    """train_cfg.fisher.max_samples: the stage-1 FisherHooks and the cross
    pass average over the same number of images; stage 1 is not retrained
    (it resumes at its last epoch and only the hook runs)."""
    import shutil
    work_dir = tmp_path / 'work'
    source = killed_then_resumed[0]
    for step in ('stage1_head', 'stage1_tail'):
        shutil.copytree(source / step, work_dir / step)
    proc = train(
        source.parent / 'pipeline.py',
        work_dir,
        tmp_path / 'subset.log',
        '--verbose',  # each step's log on the console: no Epoch(train)
        '--cfg-options',
        'train_cfg.fisher.max_samples=20',
        start_new_session=True)
    search_done = work_dir / 'search' / 'done.json'
    deadline = time.time() + 240
    while not search_done.exists() and proc.poll() is None:
        assert time.time() < deadline, 'pipeline did not reach the search'
        time.sleep(0.05)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    log = (tmp_path / 'subset.log').read_text()
    assert search_done.exists(), log[-5000:]
    for task in ('head', 'tail'):
        stats = torch.load(work_dir / f'stage1_{task}' / f'fisher_{task}.pth')
        assert stats['num_samples'] == 20 and stats['train_size'] == 41
    cross = torch.load(work_dir / 'fisher_cross' / 'fisher_cross.pth')
    assert cross['num_samples'] == 20
    search = json.loads((work_dir / 'search' / 'search.json').read_text())
    assert search['N'] == 41
    assert '[OSDTW] stage1_head: running' in log
    assert 'Epoch(train)' not in log  # resumed at the last epoch


def test_unknown_fisher_key_is_a_clear_error(killed_then_resumed, tmp_path):
    source = killed_then_resumed[0]
    code, log = run_pipeline(source.parent / 'pipeline.py', tmp_path / 'work',
                             tmp_path / 'bad.log', '--cfg-options',
                             'train_cfg.fisher.max_sample=20')
    assert code != 0
    assert "train_cfg.fisher has an unknown key 'max_sample'" in log
    code, log = run_pipeline(source.parent / 'pipeline.py', tmp_path / 'work',
                             tmp_path / 'bad.log', '--cfg-options',
                             'train_cfg.fisher.max_samples=0')
    assert code != 0
    assert 'train_cfg.fisher.max_samples must be an int >= 1, got 0' in log
    assert not (tmp_path / 'work' / 'stage1_head').exists()


def test_stage1_in_one_data_pass(killed_then_resumed, tmp_path):
    """train_cfg.stage1_pair: one TaskPairClassifier run replaces the two
    stage-1 trainings; the task models and their statistics come from it."""
    source = killed_then_resumed[0]
    work_dir = tmp_path / 'work'
    # --verbose: each step's log on the console, to tell what trained
    pair = ('--verbose', '--cfg-options',
            'train_cfg.stage1_pair=stage1_pair.py', 'train_cfg.refine=None')
    code, log = run_pipeline(source.parent / 'pipeline.py', work_dir,
                             tmp_path / 'pair.log', *pair)
    assert code == 0, log[-5000:]
    for task in ('head', 'tail'):
        ckpt = artifact(work_dir, f'stage1_{task}', 'checkpoint')
        assert ckpt.endswith(f'{task}_from_pair.pth')
        stats = torch.load(work_dir / f'stage1_{task}' / f'fisher_{task}.pth')
        assert stats['num_samples'] == 41 and stats['train_size'] == 41
        assert stats['meta']['task'] == task
    # one training for stage 1: the task steps only split and run Fisher
    stage1_log = log.split('[OSDTW] stage1_head: running')[1].split(
        '[OSDTW] fisher_cross')[0]
    assert 'Epoch(train)' not in stage1_log
    assert 'Epoch(train)' in log.split('[OSDTW] stage1_pair: running')[1]
    report = json.loads((work_dir / 'test' / 'report.json').read_text())
    assert 'stage1_pair' in report['timings']
    assert {'stage 1 head task', 'stage 1 tail task'} <= set(report['models'])
    # a rerun skips everything, the pair included
    code, log = run_pipeline(source.parent / 'pipeline.py', work_dir,
                             tmp_path / 'again.log', *pair)
    assert code == 0, log[-5000:]
    assert '[OSDTW] stage1_pair: done, skipped' in log
    assert '[OSDTW] test: done, skipped' in log


# ------------------------------------------- issue 19: the work dir's faults
def report_without_timings(work_dir: Path) -> dict:
    report = json.loads((work_dir / 'test' / 'report.json').read_text())
    report.pop('timings')
    return report


def copy_configs(source: Path, folder: Path) -> Path:
    """The fixture's pipeline and stage configs, copied into ``folder``."""
    import shutil
    folder.mkdir()
    for path in source.glob('*.py'):
        shutil.copy(path, folder / path.name)
    return folder / 'pipeline.py'


def test_a_changed_stage_config_reruns_it_and_names_the_change(
        killed_then_resumed, tmp_path):
    """An edited stage config (refinement: 3 epochs instead of 2) reruns
    its step with one line naming the changed key, and the steps that read
    its output; the earlier steps are kept."""
    import shutil
    source = killed_then_resumed[0]
    config = copy_configs(source.parent, tmp_path / 'configs')
    with open(config.parent / 'stage3_refine.py', 'a') as f:
        f.write('train_cfg = dict(max_epochs=3, val_interval=2)\n')
    work_dir = tmp_path / 'work'
    shutil.copytree(source, work_dir)
    code, log = run_pipeline(config, work_dir, tmp_path / 'changed.log')
    assert code == 0, log[-5000:]
    assert ('[OSDTW] refine: config refine: train_cfg.max_epochs 2 -> 3; '
            'the step runs again') in log
    for step in ('stage1_head', 'stage2', 'assemble'):
        assert f'[OSDTW] {step}: done, skipped' in log
    assert '[OSDTW] test: running' in log
    assert artifact(work_dir, 'refine', 'checkpoint').endswith('epoch_3.pth')


def test_a_pipeline_setting_typo_is_one_line(killed_then_resumed, tmp_path):
    source = killed_then_resumed[0]
    proc = subprocess.run(
        [sys.executable, 'tools/train.py',
         str(source.parent / 'pipeline.py'), '--work-dir',
         str(tmp_path / 'work'), '--cfg-options', 'train_cfg.shard_depth=2'],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: train_cfg.shard_depth is not a setting of the OSDTW pipeline "
        "(did you mean 'shared_depth'?)"]
    assert not (tmp_path / 'work' / 'stage1_head').exists()


@pytest.mark.parametrize('how', ['copy', 'move'])
def test_a_copied_or_moved_work_dir_repairs_inside_itself(
        killed_then_resumed, tmp_path, how):
    """A truncated refinement checkpoint in a copied (or moved) work dir:
    the step resumes from the older checkpoint of its own folder (never
    the original's, which mmengine's last_checkpoint names) and ends with
    the report of the in-place run."""
    import shutil
    source = killed_then_resumed[0]
    work_dir = tmp_path / 'work'
    shutil.copytree(source, work_dir)
    if how == 'move':
        moved = tmp_path / 'moved'
        work_dir.rename(moved)
        work_dir = moved
    final = Path(artifact(work_dir, 'refine', 'checkpoint'))
    last = (work_dir / 'refine' / 'last_checkpoint').read_text()
    assert str(source) in last  # mmengine wrote the original's path
    final.write_bytes(final.read_bytes()[:1000])
    hidden = source.with_name(source.name + '_hidden')
    source.rename(hidden)  # the original out of reach
    try:
        code, log = run_pipeline(source.parent / 'pipeline.py', work_dir,
                                 tmp_path / f'{how}.log')
    finally:
        hidden.rename(source)
    assert code == 0, log[-5000:]
    assert f'[OSDTW] refine: artifact {final} is truncated' in log
    assert f'checkpoint {final} is not a complete torch.save file' in log
    assert Path(artifact(work_dir, 'refine', 'checkpoint')) == final
    assert report_without_timings(work_dir) == report_without_timings(source)
    for step in ('stage1_head', 'stage2', 'assemble'):
        assert f'[OSDTW] {step}: done, skipped' in log


def test_one_run_per_work_dir(killed_then_resumed, tmp_path):
    """A second run on a work dir in use stops at once with one line naming
    the holder's PID; the lock of a killed holder is no obstacle."""
    import shutil
    source = killed_then_resumed[0]
    work_dir = tmp_path / 'work'
    shutil.copytree(source, work_dir)
    holder = subprocess.Popen(
        [sys.executable, '-c',
         'import sys, time\n'
         'from mmpretrain_osdtw.engine.runner.work_dir import WorkDirLock\n'
         f'WorkDirLock({str(work_dir)!r}).acquire()\n'
         'print("locked", flush=True)\n'
         'time.sleep(600)\n'],
        cwd=REPO, env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        proc = subprocess.run(
            [sys.executable, 'tools/train.py',
             str(source.parent / 'pipeline.py'), '--work-dir',
             str(work_dir)],
            cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1
        assert f'{work_dir} is in use by another run (PID {holder.pid}' in \
            lines[0]
    finally:
        holder.kill()
        holder.wait()
    code, log = run_pipeline(source.parent / 'pipeline.py', work_dir,
                             tmp_path / 'after.log')
    assert code == 0, log[-3000:]
    assert '[OSDTW] test: done, skipped' in log


def test_a_second_seed_calibrates_the_noise_scale(killed_then_resumed,
                                                  tmp_path):
    """train_cfg.noise_scale='second_seed': each task config trains again
    with the next seed, its SGD noise goes into a copy of its statistics,
    and the search calibrates N on it; the first seed's steps are
    reused."""
    import shutil
    source = killed_then_resumed[0]
    work_dir = tmp_path / 'work'
    for step in ('stage1_head', 'stage1_tail', 'fisher_cross'):
        shutil.copytree(source / step, work_dir / step)
    code, log = run_pipeline(source.parent / 'pipeline.py', work_dir,
                             tmp_path / 'seeds.log', '--cfg-options',
                             "train_cfg.noise_scale='second_seed'",
                             'train_cfg.refine=None')
    assert code == 0, log[-5000:]
    assert '[OSDTW] stage1_head: done, skipped' in log
    assert '[OSDTW] stage1_head_seed2: running' in log
    first = torch.load(artifact(work_dir, 'stage1_tail', 'checkpoint'),
                       weights_only=False)['state_dict']
    second = torch.load(
        artifact(work_dir, 'stage1_tail_seed2', 'checkpoint'),
        weights_only=False)['state_dict']
    name = 'backbone.layers.0.ffn.layers.1.weight'
    assert not torch.equal(first[name], second[name])
    assert not (work_dir / 'stage1_tail_seed2' / 'fisher_tail.pth').exists()
    noise = torch.load(work_dir / 'sgd_noise' / 'fisher_tail_sgd.pth')
    torch.testing.assert_close(
        noise['sgd_noise'][name],
        (0.5 * (first[name].double() - second[name].double())**2).float())
    search = json.loads((work_dir / 'search' / 'search.json').read_text())
    assert search['noise_scale'] == 'sgd'
    assert search['N_data'] == 41 and search['N'] != 41
    bad = subprocess.run(
        [sys.executable, 'tools/train.py',
         str(source.parent / 'pipeline.py'), '--work-dir',
         str(tmp_path / 'bad'), '--cfg-options',
         "train_cfg.noise_scale='displacement'"],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2  # no MGP checkpoint to measure it from
    assert "train_cfg.noise_scale='displacement' needs the checkpoint" in \
        bad.stderr
