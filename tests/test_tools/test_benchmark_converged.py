"""The converged benchmark's pure parts (tools/benchmark/converged): the
job list, the ledger reads, resumable execution of trivial commands, the
aggregation, convergence, Spearman and regret. No training."""
import json
import math
import os.path as osp
import sys

import pytest

from mmpretrain_osdtw.engine.runner.stage_runner import PIPELINE_STEPS
from mmpretrain_osdtw.engine.runner.step_ledger import StepLedger
from tools.benchmark.converged import cli, plots, results
from tools.benchmark.converged.execute import Executor
from tools.benchmark.converged.jobs import (METHODS, Job, Protocol, Settings,
                                            Step, check_names_unique)


def make_protocol(tmp_path, **kwargs):
    kwargs.setdefault('seeds', [0, 1])
    settings = Settings(
        work_root=str(tmp_path / 'work'),
        out_dir=str(tmp_path / 'out'),
        python='python',
        **kwargs)
    return Protocol(settings)


# ------------------------------------------------------------------ jobs
def test_job_list_covers_the_protocol(tmp_path):
    protocol = make_protocol(tmp_path)
    jobs = protocol.jobs()
    check_names_unique(jobs)
    keys = [j.key for j in jobs]
    assert keys[0] == 'mgp' and jobs[0].threads == 2
    # the two pipelines (proxy and validation choice), methods, three
    # searches
    per_seed = 2 + len(METHODS) + 3
    # stage 2 per weight, the 4 x 5 grid, the two searches with seed 1's SGD
    # noise (added to the mismatch noise; calibrating N), the search with N
    # calibrated on the single-run displacement bound, the assembled models
    # on the validation set
    ablation = 5 + 4 * 5 + 2 + 1 + 1
    # the cost measurement (once); per seed the 2-model ensembles of LA-CE
    # and Bal-BCE with the next seed's models
    ensembles = 2 * 2
    assert len(jobs) == 2 + 2 * per_seed + ablation + ensembles
    assert keys[1] == 'cost' and by_key_deps(jobs, 'cost') == ()
    assert len(by_key_deps(jobs, 'seed0/assembled_val')) == 20
    # the validation-choice pipeline starts from the proxy run's stage 1
    assert by_key_deps(jobs, 'seed0/osdtw_validation')[1:] == tuple(
        protocol.ledger(0).done_path(s)
        for s in ('stage1_head', 'stage1_tail', 'fisher_cross'))
    assert by_key_deps(jobs, 'seed1/ensemble2_la-ce') == tuple(
        protocol.run_dir(s, 'la-ce') + '/last_checkpoint' for s in (1, 0))
    # the first seed's ablation comes before the second seed's main table
    assert keys.index('seed0/grid_C6_w0.90') < keys.index('seed1/osdtw')
    assert not any(k.startswith('seed1/grid') for k in keys)
    # every fine-tuning waits for the MGP checkpoint, except from scratch
    mgp = protocol.s.mgp_checkpoint
    by_key = {j.key: j for j in jobs}
    assert by_key['seed0/bal-bce'].deps == (mgp, )
    assert by_key['seed0/bal-bce_scratch'].deps == ()
    assert by_key['seed0/grid_C0_w0.10'].deps == tuple(
        protocol.ledger(0).done_path(f'stage1_{t}') for t in ('head', 'tail'))
    assert protocol.stage2_result(0, 0.1) in by_key['seed0/grid_C4_w0.10'].deps


def by_key_deps(jobs, key):
    return {j.key: j for j in jobs}[key].deps


def cfg_options(argv):
    """The ``--cfg-options`` of a command (every occurrence)."""
    out, on = [], False
    for arg in argv:
        if arg.startswith('--'):
            on = arg == '--cfg-options'
        elif on:
            out.append(arg)
    return out


def test_cfg_options_carry_the_setting(tmp_path):
    order = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    protocol = make_protocol(
        tmp_path,
        imb_ratio=50,
        class_order=order,
        epochs=10,
        refine_epochs=3,
        methods=list(METHODS))
    s, ckpt = protocol.s, protocol.s.mgp_checkpoint
    assert osp.isabs(ckpt) and ckpt.endswith('mgp/epoch_200.pth')
    assert s.cfg_options('vit-d96-p8_ce.py') == [
        'train_cfg.max_epochs=10', 'train_dataloader.dataset.imb_ratio=50',
        'train_dataloader.dataset.class_order=[9,8,7,6,5,4,3,2,1,0]',
        f'model.backbone.init_cfg.checkpoint={ckpt}'
    ]
    # stage 1's HeadTailSplit wraps the long-tailed set; the refinement
    # trains refine_epochs; from scratch has no MGP checkpoint
    assert 'train_dataloader.dataset.dataset.imb_ratio=50' in \
        s.cfg_options('osdtw_stage1_tail.py')
    assert s.cfg_options('osdtw_stage3_refine.py')[0] == \
        'train_cfg.max_epochs=3'
    assert not any('init_cfg' in o
                   for o in s.cfg_options('vit-d96-p8_bal-bce_scratch.py'))
    # every command of a config gets them: training and both tests
    ce = s.cfg_options('vit-d96-p8_ce.py')
    open_touch(osp.join(protocol.run_dir(0, 'ce'), 'last_checkpoint'))
    steps = protocol.train_job(0, 'ce').steps()
    train, test, val = (cfg_options(step.command()) for step in steps)
    assert (train, test) == (['randomness.seed=0'] + ce, ce)
    assert val == ce + [
        'test_dataloader.dataset.imb_ratio=50',
        'test_dataloader.dataset.class_order=[9,8,7,6,5,4,3,2,1,0]'
    ]
    # the assembly too (it initialises the model before loading the parts)
    fake_pipeline(protocol)
    grid = protocol.grid_job(0, 0, 0.3).steps()
    assert cfg_options(grid[0].command()) == \
        s.cfg_options('osdtw_stage3_assemble.py')
    assert 'train_cfg.max_epochs=3' in cfg_options(grid[2].command())
    # no environment variable carries the setting any more
    assert all(step.env == {} for step in steps + grid)
    argv = protocol.mgp_job().steps()[0].command()
    assert 'train_dataloader.dataset.imb_ratio=50' in argv
    assert 'train_dataloader.dataset.class_order=[9,8,7,6,5,4,3,2,1,0]' in \
        argv


def test_pipeline_gets_each_stage_its_setting(tmp_path):
    """Each stage config of the pipeline gets the options a run of it alone
    gets (per_stage_cfg_options), also for a non-default setting."""
    protocol = make_protocol(tmp_path, epochs=10, refine_epochs=3,
                             imb_ratio=50)
    argv = protocol.pipeline_job(1).steps()[0].command()
    options = cfg_options(argv)
    assert options[:2] == [
        'randomness.seed=1', 'train_cfg.stage_cfg_options.randomness.seed=1'
    ]
    prefix = 'train_cfg.per_stage_cfg_options.'
    assert prefix + 'refine.train_cfg.max_epochs=3' in options
    assert prefix + 'stage2.train_cfg.max_epochs=10' in options
    assert (prefix + 'stage1_head.train_dataloader.dataset.dataset.'
            'imb_ratio=50') in options
    assert prefix + 'stage2.train_dataloader.dataset.imb_ratio=50' in options
    assert (prefix + 'stage1_tail.model.backbone.init_cfg.checkpoint=' +
            protocol.s.mgp_checkpoint) in options


def test_mgp_command_is_the_protocol_command(tmp_path):
    protocol = make_protocol(tmp_path)
    argv = protocol.mgp_job().steps()[0].command()
    assert argv == [
        'python', 'tools/train.py',
        'configs/mgp/cifar10_lt/mae_vit-mini-p8_1xb256-coslr-200e.py',
        '--work-dir', protocol.s.mgp_dir, '--resume'
    ]


def test_train_job_tests_on_test_and_validation(tmp_path):
    protocol = make_protocol(tmp_path)
    job = protocol.train_job(0, 'more_bal-bce')
    steps = job.steps()
    assert [s.label for s in steps] == ['train', 'test', 'val']
    test, val = steps[1].command(), steps[2].command()
    # MORE is tested as its merged plain model, with the Bal-BCE config
    assert test[2].endswith('vit-d96-p8_bal-bce.py')
    assert test[3].endswith('merged.pth')
    # validation: that config with _heldout.py's dataset as its test set,
    # written beside the run, and the setting's options
    assert val[2] == osp.join(protocol.run_dir(0, 'more_bal-bce'),
                              'val_config.py')
    with open(val[2]) as f:
        text = f.read()
    assert "vit-d96-p8_bal-bce.py', " in text and "/_heldout.py'" in text
    assert 'test_dataloader = dict(dataset={{_base_.heldout_dataset}})' in \
        text
    assert cfg_options(val) == cfg_options(test) + [
        'test_dataloader.dataset.imb_ratio=100'
    ]


def fake_pipeline(protocol, seed=0):
    """A pipeline work dir whose stage-1 and Fisher steps are done."""
    ledger = StepLedger(protocol.run_dir(seed, 'osdtw'), PIPELINE_STEPS)
    arts = {
        'stage1_head':
        dict(checkpoint='stage1_head/epoch_2.pth', fisher='stage1_head/f.pth'),
        'stage1_tail':
        dict(checkpoint='stage1_tail/epoch_2.pth', fisher='stage1_tail/f.pth'),
        'fisher_cross':
        dict(cross='fisher_cross/fisher_cross.pth'),
    }
    for step, artifacts in arts.items():
        absolute = {k: ledger.absolute(v) for k, v in artifacts.items()}
        for path in absolute.values():
            open_touch(path)
        ledger.mark_done(step, dict(step=step), absolute, 1.5)
    return ledger


def open_touch(path):
    import os
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('x')


def test_grid_and_search_commands_read_the_ledger(tmp_path):
    protocol = make_protocol(tmp_path)
    ledger = fake_pipeline(protocol)
    job = protocol.grid_job(0, 0, 0.3)
    assert all(osp.isfile(d) for d in job.deps)
    steps = job.steps()
    assert [s.label for s in steps] == [
        'assemble', 'assembled_test', 'refine', 'test', 'val'
    ]
    assemble = steps[0].command()
    head = ledger.artifact('stage1_head', 'checkpoint')
    assert assemble[assemble.index('--stage1-head') + 1] == head
    assert '--stage2' not in assemble  # C = 0 needs no stage 2
    refine = steps[2].command()
    assert '--resume' not in refine
    assert any(a.startswith('load_from=') for a in refine)
    assert 'model.shared_depth=0' in refine
    search = protocol.search_job(0, 'raw').steps()[0].command()
    assert search[2] == ledger.artifact('stage1_head', 'fisher')
    assert search[search.index('--mismatch') + 1] == 'raw'


# -------------------------------------------------------------- execution
def test_executor_runs_skips_and_reports(tmp_path):
    protocol = make_protocol(tmp_path)
    marker = tmp_path / 'ran.txt'

    def job(name, deps=(), code='pass'):
        return Job(
            name, 0, 'train', tuple(deps),
            lambda: [Step('train', [sys.executable, '-c', code])],
            lambda sec: dict(name=name, seconds=sec))

    first = job(
        'a',
        code=f'import os; open({str(marker)!r}, "a").write('
        'os.environ["X"] + os.environ["OMP_NUM_THREADS"])')
    first_steps = first.steps
    first.steps = lambda: [
        Step(s.label, s.argv, dict(X='a')) for s in first_steps()
    ]
    second = job('b', deps=[protocol.result_path(first)])
    broken = job('c', code='raise SystemExit(3)')
    blocked = job('d', deps=[str(tmp_path / 'never')])
    run = Executor([first, second, broken, blocked], protocol.result_path,
                   str(tmp_path / 'logs'), 2, dict(X='common'),
                   str(tmp_path), 0.05,
                   log=lambda m: None)
    assert run.run() == 1
    assert run.state == dict(
        zip(['seed0/a', 'seed0/b', 'seed0/c', 'seed0/d'],
            ['done', 'done', 'failed', 'pending']))
    with open(protocol.result_path(second)) as f:
        assert json.load(f)['name'] == 'b'
    # a rerun skips what has a result JSON
    again = Executor([first], protocol.result_path, str(tmp_path / 'logs'),
                     2, {}, str(tmp_path), 0.05, log=lambda m: None)
    assert again.run() == 0
    assert marker.read_text() == 'a1'


# ----------------------------------------------------------- aggregation
def test_convergence_window():
    flat = [[e, 80.0 + (0.1 if e % 2 else 0)] for e in range(1, 21)]
    assert results.convergence(flat)['converged']
    assert results.convergence(flat)['window'] == [16, 20]
    rising = [[e, 50.0 + e] for e in range(1, 21)]
    assert not results.convergence(rising)['converged']
    pipeline = results.run_convergence(
        dict(curves=dict(stage1_head=flat, stage2=rising, refine=[])))
    assert not pipeline['converged'] and pipeline['worst_step'] == 'stage2'
    assert results.run_convergence(dict(curve=flat))['converged']
    assert results.convergence([[1, 3.0]]) is None


def test_spearman_and_regret():
    assert results.spearman([1, 2, 3], [3, 2, 1]) == -1.0
    assert results.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(
        0.9486832980505138)
    assert math.isnan(results.spearman([1, 1, 1], [1, 2, 3]))
    errors = {(0, 0.5): 20.0, (6, 0.5): 18.0}
    assert results.regret(errors, (0, 0.5)) == 2.0
    assert results.argmin_point({(0, 0.3): 1.0, (6, 0.7): 1.0}) == (6, 0.7)


def cell(top1, nll, val):
    return dict(
        metrics=dict(top1=top1),
        assembled_metrics=dict(nll=nll),
        val_metrics=dict(top1=val))


def test_grid_analysis_ranks_and_choices():
    cells = {
        (0, 0.3): cell(70.0, 3.0, 71.0),
        (0, 0.7): cell(72.0, 2.5, 70.0),
        (6, 0.3): cell(75.0, 2.0, 74.0),
        (6, 0.7): cell(74.0, 2.2, 76.0),
    }
    w_grid = [0.3, 0.5, 0.7]
    # proxy rows C = 0..6; ordered like the NLL
    proxy = [[3.0, 0, 2.5]] + [[9, 9, 9]] * 5 + [[2.0, 0, 2.2]]
    a = results.grid_analysis(cells, w_grid, proxy)
    assert a['spearman_proxy_nll'] == 1.0
    assert a['proxy_choice'] == [6, 0.3]
    assert a['test_best'] == [6, 0.3] and a['proxy_regret'] == 0.0
    assert a['val_choice'] == [6, 0.7]
    assert a['val_choice_error'] == pytest.approx(26.0)
    # two weights per depth: too few points for a rank correlation
    assert sorted(a['within_C_proxy_nll']) == ['0', '6']
    assert all(math.isnan(v) for v in a['within_C_proxy_nll'].values())
    # the markdown: within-depth Spearman ('-' for nan) and every cell
    within = results.markdown_within_depth('0', dict(raw=a))
    assert within[2:4] == ['| mismatch | C = 0 | C = 6 |', '|---|---|---|']
    assert within[4] == '| raw | - / - | - / - |'
    cells_md = results.markdown_grid_cells('0', dict(raw=a, debiased=a))
    assert cells_md[2].endswith('| proxy (raw) | proxy (debiased) |')
    assert cells_md[4] == '| 0 | 0.30 | 30.00 | 3.000 | 3 | 3 |'
    assert len(cells_md) == 4 + 4 + 1


def test_load_runs_and_main_table(tmp_path):
    out = tmp_path / 'out'
    for seed, top1 in ((0, 80.0), (1, 82.0)):
        path = out / 'runs' / f'seed{seed}' / 'bal-bce.json'
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                dict(
                    metrics=dict(top1=top1, nll=0.5),
                    val_metrics=dict(top1=top1 - 1),
                    curve=[[e, top1] for e in range(1, 6)],
                    wall_s=100.0)))
    (out / 'runs' / 'mgp.json').write_text(json.dumps(dict(epochs=200)))
    runs = results.load_runs(str(out))
    assert set(runs) == {'bal-bce', 'mgp'} and None in runs['mgp']
    rows = results.main_rows(runs, [('bal-bce', 'Bal-BCE'), ('ce', 'CE')])
    assert len(rows) == 1 and rows[0]['seeds'] == [0, 1]
    table = results.markdown_main_table(rows, expected_seeds=3)
    assert '| Bal-BCE | 2 (incomplete) | 81.0 ± 1.4 |' in table
    assert table.rstrip().endswith('| yes |')


def test_command_line_tags_and_class_order():
    assert cli.parse_class_order('reversed') == list(range(9, -1, -1))
    assert cli.parse_class_order(None) is None
    with pytest.raises(Exception, match='permutation'):
        cli.parse_class_order('0,1,2')
    args = cli.parse_args(['run', '--imb-ratio', '50', '--epochs', '4'])
    assert args.work_root == osp.join('work_dirs', 'converged', 'ir50_e4')
    assert args.refine_epochs == 1 and args.ablation_seeds == [0]
    args = cli.parse_args(['aggregate'])
    assert args.out == osp.join('docs', 'benchmarks', 'converged', 'ir100')
    assert args.refine_epochs == 6


def test_layer_mismatch_table():
    """One row per layer, one column per seed with the pipeline search's
    per-layer diagnosis; nothing without it."""
    per_layer = [
        dict(layer=0, ratio=None, above_noise=None),
        dict(layer=1, ratio=2.5, above_noise=0.5),
    ]
    osdtw = {0: dict(search=dict(per_layer_mismatch=per_layer)),
             1: dict(search=dict())}
    table = results.markdown_layer_mismatch(osdtw).splitlines()
    assert len(table) == 4 and 'seed 0' in table[0] and 'seed 1' not in table[0]
    assert table[2] == '| 0 (head + final norm) | - |'
    assert table[3] == '| 1 (block 1 + embeddings) | 2.5 (50.0 %) |'
    assert results.markdown_layer_mismatch({1: dict(search={})}) == ''
    # the SGD-noise search of seed 0 (noise from seed 1) adds two columns
    sgd = {0: dict(sgd_noise_seed=1, per_layer_mismatch=[
        dict(layer=0, delta2=0.0, noise=0.0, sgd_noise=0.0),
        dict(layer=1, delta2=8.0, noise=12.0, sgd_noise=2.0)])}
    table = results.markdown_layer_mismatch(osdtw, sgd).splitlines()
    assert 'seed 0: SGD noise (seed 1) / asymptotic noise' in table[0]
    assert table[1] == '|---|---|---|---|'
    assert table[2] == '| 0 (head + final norm) | - | - | - |'
    assert table[3] == '| 1 (block 1 + embeddings) | 2.5 (50.0 %) | 0.2 | 4 |'


def test_the_sgd_noise_search_waits_for_the_second_seed(tmp_path):
    """The first seed's search with the SGD noise of the second seed: two
    noise files, then the debiased search on them; it depends on both seeds'
    stage-1 steps."""
    protocol = Protocol(
        Settings(work_root=str(tmp_path / 'w'), out_dir=str(tmp_path / 'o'),
                 seeds=[0, 1]))
    jobs = {j.key: j for j in protocol.jobs()}
    job = jobs['seed0/search_sgd-noise']
    assert any('seed1' in d and 'stage1_tail' in d for d in job.deps)
    assert any('seed0' in d and 'fisher_cross' in d for d in job.deps)
    assert 'seed1/search_sgd-noise' not in jobs
    # the calibrated search reads the noise files of search_sgd-noise
    assert jobs['seed0/search_sgd-scale'].deps == job.deps + (
        protocol.result_path(job), )
    one_seed = Protocol(
        Settings(work_root=str(tmp_path / 'w'), out_dir=str(tmp_path / 'o'),
                 seeds=[0]))
    assert not any('sgd-noise' in j.key for j in one_seed.jobs())


def test_only_runs_the_named_jobs(tmp_path):
    protocol = Protocol(
        Settings(work_root=str(tmp_path / 'w'), out_dir=str(tmp_path / 'o'),
                 seeds=[0, 1]))
    jobs = protocol.jobs()
    picked = cli.only_jobs(jobs, ['seed0/search_sgd-noise', 'seed1/ce'])
    # in the protocol's order: the first seed's ablation comes first
    assert [j.key for j in picked] == ['seed0/search_sgd-noise', 'seed1/ce']
    with pytest.raises(ValueError, match="--only 'seed9/ce' is not a job"):
        cli.only_jobs(jobs, ['seed9/ce'])


def test_mgp_segments_sum_the_resumed_runs(tmp_path):
    """Two log folders (a run and its resumption): two segments, each from
    the folder's start time to its log's last write."""
    import os
    import time
    for stamp, length in (('20260101_100000', 600), ('20260101_120000', 300)):
        folder = tmp_path / stamp
        folder.mkdir()
        log = folder / f'{stamp}.log'
        log.write_text('x')
        start = time.mktime(time.strptime(stamp, '%Y%m%d_%H%M%S'))
        os.utime(log, (start + length, start + length))
    segments = results.mgp_segments(str(tmp_path))
    assert [round(b - a) for a, b in segments] == [600, 300]
    (tmp_path / 'vis_data').mkdir()  # not a log folder: ignored
    checkpoint = tmp_path / 'epoch_2.pth'
    assert results.mgp_wall_time(str(tmp_path), str(checkpoint)) is None
    checkpoint.write_text('x')
    end = time.mktime(time.strptime('20260101_130000', '%Y%m%d_%H%M%S'))
    os.utime(checkpoint, (end, end))
    # elapsed from the first folder's start, the pause included
    assert results.mgp_wall_time(str(tmp_path), str(checkpoint)) == 10800.0


def test_the_grid_plot_frames_every_cell_of_a_tie():
    """At C = 0 w_A changes nothing, so the refined cells tie: every tied
    cell is framed, not only the first one found."""
    nan = float('nan')
    tied = [[40.4, 40.4, 40.4], [41.0, nan, 39.0 + 1.4]]
    assert plots.minimum_cells(tied) == [(0, 0), (0, 1), (0, 2), (1, 2)]
    assert plots.minimum_cells([[3.0, 1.0], [2.0, 5.0]]) == [(0, 1)]
    assert plots.minimum_cells([[nan]]) == []


def test_tiny_or_huge_panels_are_rescaled():
    """The calibrated proxy's values (3e-5 to 2e-4) would not fit in a cell:
    the panel is shown x 1e-4 (its largest value, 1.8e-4, sets the power)."""
    assert plots.panel_scale([[2.69e-5, 1.8e-4], [float('nan'), 5e-5]]) == -4
    assert plots.panel_scale([[59.6, 33.7]]) == 0
    assert plots.panel_scale([[3.2e6]]) == 6
    assert plots.panel_scale([[0.0]]) == 0


def test_a_new_machine_reruns_the_jobs_whose_outputs_are_needed(tmp_path):
    """Finished jobs whose outputs are gone (a new machine: no MGP
    checkpoint, no pipeline ledger) run again only when a pending job needs
    them, with their results under runs_rerun/; the committed ones stay."""
    protocol = make_protocol(
        tmp_path, seeds=[0, 1, 2], ablation_seeds=[0, 1, 2])
    runs = tmp_path / 'out' / 'runs'
    # what the first machine finished: everything but the grids of seeds
    # 1 and 2 (their stage-2 sweeps, cells and SGD-noise searches)
    for job in protocol.jobs():
        if job.seed in (1, 2) and job.kind in ('stage2', 'grid') or \
                job.key.startswith(('seed1/search_sgd', 'seed2/search_sgd')):
            continue
        path = runs / (job.key + '.json')
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('{}')
    jobs = {j.key: j for j in protocol.jobs()}
    # the grids need their pipelines' stage-1 ledgers, which need MGP
    assert jobs['seed1/osdtw'].rerun and jobs['seed2/osdtw'].rerun
    assert jobs['mgp'].rerun
    assert protocol.result_path(jobs['seed1/osdtw']) == str(
        tmp_path / 'out' / 'runs_rerun' / 'seed1' / 'osdtw.json')
    # nothing pending needs seed 0's pipeline: it is not rerun
    assert not jobs['seed0/osdtw'].rerun and not jobs['seed1/ce'].rerun
    # seed 1's SGD noise comes from seed 2's models and seed 2's from 1's
    assert any('seed2' in d for d in jobs['seed1/search_sgd-noise'].deps)
    assert any('seed1' in d for d in jobs['seed2/search_sgd-noise'].deps)
    # with the outputs on disk, nothing is rerun
    ckpt = tmp_path / 'work' / 'mgp' / 'epoch_200.pth'
    ckpt.parent.mkdir(parents=True)
    ckpt.write_text('x')
    for seed in (0, 1, 2):
        for step in ('stage1_head', 'stage1_tail', 'fisher_cross'):
            path = protocol.ledger(seed).done_path(step)
            osp.isdir(osp.dirname(path)) or __import__('os').makedirs(
                osp.dirname(path))
            open(path, 'w').close()
    assert not any(j.rerun for j in protocol.jobs())


def test_sgd_partner_is_the_next_seed():
    from tools.benchmark.converged.jobs import sgd_partner
    assert [sgd_partner(s, [0, 1, 2]) for s in (0, 1, 2)] == [1, 2, 1]
    assert sgd_partner(0, [0]) is None


def test_the_slots_file_changes_the_limit_between_rounds(tmp_path):
    slots_file = tmp_path / 'jobs'
    executor = Executor([], lambda j: str(tmp_path / 'r.json'),
                        str(tmp_path / 'logs'), 2, {}, str(tmp_path),
                        log=lambda m: None, slots_file=str(slots_file))
    assert executor.current_slots() == 2
    slots_file.write_text('1\n')
    assert executor.current_slots() == 1
    slots_file.write_text('not a number')
    assert executor.current_slots() == 2
    slots_file.unlink()
    assert executor.current_slots() == 2


def test_the_grid_over_seeds_gives_each_cell_its_spread():
    runs = {
        'grid_C0_w0.10': {
            0: dict(C=0, w_A=0.1, metrics=dict(top1=40.0),
                    assembled_metrics=dict(nll=3.5)),
            1: dict(C=0, w_A=0.1, metrics=dict(top1=42.0),
                    assembled_metrics=dict(nll=3.7)),
        },
        'grid_C2_w0.10': {
            1: dict(C=2, w_A=0.1, metrics=dict(top1=39.0),
                    assembled_metrics=dict(nll=3.6)),
        },
        'ce': {0: dict(metrics=dict(top1=25.0))},
    }
    cells = results.grid_across_seeds(runs)
    assert cells[(0, 0.1)] == dict(top1=[40.0, 42.0], nll=[3.5, 3.7],
                                   seeds=[0, 1])
    text = results.markdown_grid_across_seeds(cells)
    assert text.startswith('### The grid over seeds 0, 1:')
    assert '| 0 | 41.0 ± 1.4 (3.600 ± 0.141; n=2) |' in text
    assert '| 2 | 39.0 (3.600; n=1) |' in text
    one_seed = {k: v for k, v in cells.items() if k == (2, 0.1)}
    assert results.markdown_grid_across_seeds(one_seed) == ''


def test_the_displacement_search_reads_the_mgp_checkpoint(tmp_path):
    protocol = make_protocol(tmp_path)
    jobs = {j.key: j for j in protocol.jobs()}
    job = jobs['seed0/search_displacement']
    assert protocol.s.mgp_checkpoint in job.deps
    assert protocol.ledger(0).done_path('fisher_cross') in job.deps
    assert 'seed1/search_displacement' not in jobs  # not an ablation seed


def test_the_pilots_convergence_check_goes_beside_the_table(tmp_path):
    """The regime pilot's E-vs-2E check of the table's regime (synthetic
    summary), one paragraph; nothing for a regime it did not check."""
    from tools.benchmark.converged import cli as converged_cli
    from tools.benchmark.converged.jobs import Settings
    summary = tmp_path / 'summary.json'
    summary.write_text(json.dumps(dict(convergence=[dict(
        short='p8_d96_m200_e40', long='p8_d96_m200_e80', converged=False,
        methods={'bal-bce': dict(delta=4.9), 'la-ce': dict(delta=0.4)})])))
    settings = Settings('w', 'o', epochs=40)
    assert converged_cli.regime_name(settings) == 'p8_d96_m200_e40'
    text = converged_cli.convergence_text(settings, str(summary))
    assert 'p8_d96_m200_e80 against p8_d96_m200_e40 moves validation ' \
        'top-1 by Bal-BCE +4.9, LA-CE +0.4 points; NOT converged' in text
    assert converged_cli.convergence_text(Settings('w', 'o'),
                                          str(summary)) == ''
    assert converged_cli.convergence_text(
        Settings('w', 'o', epochs=40, imb_ratio=50), str(summary)) == ''
