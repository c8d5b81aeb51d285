"""The regime pilot's pure parts (tools/benchmark/regime_pilot): variant
parsing, the estimate's arithmetic, the choice rule, the convergence
check, the aggregate tables from synthetic result JSONs (made up here, no
run behind them), the job list of a temp work root. No training."""
import glob
import json
import os
import os.path as osp

import pytest

from tools.benchmark.common import plan
from tools.benchmark.converged.results import load_runs
from tools.benchmark.regime_pilot import cli, pilot

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


# -------------------------------------------------------------- variants
def test_variants_parse_with_defaults_in_any_order():
    v = pilot.parse_variant('e40_p4')
    assert (v.patch_size, v.embed_dims, v.mgp_epochs, v.epochs) == (4, 96,
                                                                    200, 40)
    assert v.name == 'p4_d96_m200_e40' and v.mgp_name == 'p4_d96_m200'
    assert pilot.parse_variant('p8_d128_m400_e50').name == \
        'p8_d128_m400_e50'
    defaults = pilot.parse_variants(pilot.DEFAULT_VARIANTS)
    assert [v.name for v in defaults] == list(pilot.DEFAULT_VARIANTS)
    # the fine-tuning lengths of today's regime share its MGP run
    assert defaults[0].mgp_name == defaults[1].mgp_name
    assert len({v.mgp_name for v in defaults}) == 4


@pytest.mark.parametrize('text, message', [
    ('p5', 'must divide 32'),
    ('d100', 'multiple of 32'),
    ('x4', 'is not p<patch>'),
    ('p4_p8', 'sets patch_size twice'),
    ('e1', '>= 2 epochs'),
    ('m0', '>= 1 epoch'),
    ('p4-d128', 'is not p<patch>'),
])
def test_bad_variants_say_why(text, message):
    with pytest.raises(ValueError, match=message):
        pilot.parse_variant(text)


def test_duplicates_and_command_line_errors(capsys):
    with pytest.raises(ValueError, match='given twice'):
        pilot.parse_variants(['p4', 'p4_d96_m200_e20'])
    with pytest.raises(SystemExit):
        cli.parse_args(['list', '--variants', 'p3'])
    assert 'must divide 32' in capsys.readouterr().err.splitlines()[-1]
    with pytest.raises(SystemExit):
        cli.parse_args(['list', '--mgp-from', 'p8_d96=x'])
    args = cli.parse_args(['list', '--mgp-from', 'p8_d96_m200=/w/mgp'])
    assert args.mgp_from == {'p8_d96_m200': '/w/mgp'}


# ------------------------------------------------------------- estimate
def test_estimate_is_the_plan_with_the_measured_unit_costs():
    # by hand: refine 6 epochs; Fisher 12 * 4096 / (12000 / 30) s; MORE
    # epoch 2.17 * 30 s
    fisher = 12 * 4096 * 30 / 12000
    # the pipeline: 2 stage-1 models, their second seeds (the default
    # noise scale), stage 2 and the refinement (5 * 20 + 6 epochs); the
    # pipeline choosing on validation: 3 stage-2 models and the
    # refinement, 10 assembled models on the validation set (0.09 of a
    # test pass each) and 6 test passes; two ensembles' test and
    # validation passes (two models each)
    per_seed = 4 * 20 * 30 + 20 * pilot.MORE_RATIO * 30 + (
        106 * 30 + fisher + 6 * 20) + (66 * 30 + (0.9 + 6) * 20) + (
            2 * 2 * 1.09 * 20)
    ablation = 5 * 20 * 30 + 20 * (6 * 30 + 20)
    total_s = 3600 + (3 * per_seed + ablation) / 2
    got = pilot.estimate(30.0, 20.0, 3600.0, 20, 12000, calibration=1.5)
    assert got['plan_total'] == pytest.approx(total_s / 3600)
    assert got['total'] == pytest.approx(1.5 * total_s / 3600)
    assert got['mgp'] == pytest.approx(1.0)
    assert got['ablation'] == pytest.approx(ablation / 2 / 3600)
    # twice the epochs: every training part doubles, MGP stays
    longer = pilot.estimate(30.0, 20.0, 3600.0, 40, 12000)
    assert longer['baselines'] == pytest.approx(2 * got['baselines'])
    assert longer['mgp'] == got['mgp']


def test_recipe_budget_uses_the_same_plan():
    from tools.benchmark import recipe_budget
    rates = dict(ft=400.0, more=200.0, mae=1000.0, infer=2000.0)
    parts = recipe_budget.plan_seconds(rates, 20, 200, 3, 2, 1.6, 0.15,
                                       4096)
    test = 10000 / 2000.0
    costs = plan.UnitCosts(
        ft_epoch=12406 / 400.0 / 0.85 + test,
        more_epoch=12406 / 200.0 / 0.85 + test,
        test=test,
        fisher=plan.fisher_seconds(4096, 400.0),
        mgp=200 * 12406 / 1000.0 / 1.6 / 0.85)
    assert parts == plan.plan_seconds(costs, 20, 3, 2)


def test_the_more_ratio_is_the_committed_runs():
    runs = load_runs(osp.join(REPO, 'docs', 'benchmarks', 'converged',
                              'ir100'))
    ratios = [
        runs['more_bal-bce'][s]['seconds']['train'] /
        runs['bal-bce'][s]['seconds']['train'] for s in (0, 1, 2)
    ]
    assert pilot.MORE_RATIO == pytest.approx(sum(ratios) / 3, abs=0.01)


def test_calibration_compares_the_plan_with_a_finished_protocol():
    def train(train_s, test_s):
        return dict(seconds=dict(train=train_s, test=test_s, val=10.0))

    runs = {
        'mgp': {None: dict(training_s=1000.0, elapsed_s=1500.0)},
        'bal-bce': {0: train(200.0, 10.0)},
        'la-ce': {0: train(400.0, 30.0)},
        'grid_C0_w0.10': {0: dict(seconds=dict(refine=100.0))},
        # the plan leaves searches out: on neither side
        'search_raw': {0: dict(seconds=dict(search=500.0))},
    }
    got = pilot.calibration_of(runs, 20, 12000)
    # unit costs: an epoch (200 + 400) / 2 / 20 = 15 s, a test 20 s; the
    # plan of the same jobs: two 20-epoch trainings and a grid cell (6
    # refinement epochs and a test)
    plan_s = 1000.0 + (20 * 15 + 20 * 15 + (6 * 15 + 20)) / 2
    measured_s = 1000.0 + (220 + 440 + 100) / 2
    assert got['plan_h'] == pytest.approx(plan_s / 3600)
    assert got['measured_h'] == pytest.approx(measured_s / 3600)
    assert got['ratio'] == pytest.approx(got['measured_h'] / got['plan_h'])
    assert got['jobs'] == 3
    # a pipeline counts the trainings it made
    three = dict(seconds=dict(pipeline=1.0), timings=dict(stage1_head=1.0))
    five = dict(three, timings=dict(stage1_head=1.0, stage1_head_seed2=1.0))
    plans = [pilot.calibration_of(dict(runs, osdtw={0: r}), 20, 12000)
             ['plan_h'] for r in (three, five)]
    assert (plans[1] - plans[0]) * 3600 == pytest.approx(2 * 20 * 15 / 2)
    assert pilot.calibration_of({'bal-bce': runs['bal-bce']}, 20, 1) is None


# --------------------------------------------------------------- choice
def record(name, val, hours, complete=True):
    variant = pilot.parse_variant(name)
    return dict(variant=variant.name, patch_size=variant.patch_size,
                embed_dims=variant.embed_dims, mgp_epochs=variant.mgp_epochs,
                epochs=variant.epochs, complete=complete,
                mean_val_top1=val if complete else None,
                estimate_h=dict(total=hours) if complete else None,
                methods={})


def test_the_rule_takes_the_best_validation_within_the_budget():
    records = [
        record('p8_e20', 37.0, 6.4),
        record('p8_e40', 40.0, 11.0),
        record('p4_e20', 45.0, 20.5),  # better, but over the budget
        record('p8_d128', 50.0, None, complete=False),  # not finished
    ]
    chosen, reason = pilot.choose(records, 15.0)
    assert chosen == 'p8_d96_m200_e40'
    assert '40.00' in reason and '2 finished variant(s)' in reason
    # at exactly the budget it fits
    records[2]['estimate_h']['total'] = 15.0
    assert pilot.choose(records, 15.0)[0] == 'p4_d96_m200_e20'
    # a tie goes to the cheaper estimate
    tie = [record('p8_e40', 40.0, 11.0), record('p8_m400', 40.0, 8.0)]
    assert pilot.choose(tie)[0] == 'p8_d96_m400_e20'


def test_no_variant_fits_or_none_finished():
    records = [record('p4_e20', 45.0, 20.5), record('p4_e40', 46.0, 38.0)]
    chosen, reason = pilot.choose(records, 15.0)
    assert chosen is None
    assert 'cheapest, p4_d96_m200_e20, is estimated at 20.5 h' in reason
    assert pilot.choose([record('p4', 1.0, 1.0, complete=False)]) == \
        (None, 'no variant has finished yet')


def test_convergence_check_of_e_and_2e():
    short, long = record('p8_e20', 0, 1), record('p8_e40', 0, 1)
    short['methods'] = {'bal-bce': dict(val_top1=33.1),
                        'la-ce': dict(val_top1=42.4)}
    long['methods'] = {'bal-bce': dict(val_top1=33.9),
                       'la-ce': dict(val_top1=44.0)}
    got = pilot.convergence_check(short, long)
    assert got['methods']['bal-bce']['abs_delta'] == pytest.approx(0.8)
    assert got['methods']['bal-bce']['below']
    assert got['methods']['la-ce']['delta'] == pytest.approx(1.6)
    assert not got['methods']['la-ce']['below'] and not got['converged']
    long['methods']['la-ce']['val_top1'] = 41.5
    assert pilot.convergence_check(short, long)['converged']
    with pytest.raises(ValueError, match='not one regime'):
        pilot.convergence_check(short, record('p4_e40', 0, 1))
    with pytest.raises(ValueError, match='not one regime'):
        pilot.convergence_check(short, record('p8_e50', 0, 1))
    assert [(p['short'], p['long']) for p in pilot.convergence_pairs(
        [long, record('p4', 0, 1), short])] == [('p8_d96_m200_e20',
                                                 'p8_d96_m200_e40')]


# ---------------------------------------------- aggregate, synthetic JSONs
def write(path, data):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(data, f)


def synthetic_variant(out, name, vals, tests, train_s, mgp_s):
    """Result JSONs as the converged driver writes them (synthetic)."""
    runs = osp.join(out, name, 'runs')
    write(osp.join(runs, 'mgp.json'),
          dict(kind='mgp', training_s=mgp_s, elapsed_s=mgp_s + 5))
    for method, val, test, secs in zip(pilot.METHODS, vals, tests, train_s):
        write(osp.join(runs, 'seed0', f'{method}.json'),
              dict(kind='train', method=method, seed=0,
                   metrics=dict(top1=test), val_metrics=dict(top1=val),
                   seconds=dict(train=secs, test=20.0, val=15.0)))


def test_aggregate_tables_from_synthetic_results(tmp_path):
    out = str(tmp_path / 'out')
    synthetic_variant(out, 'p8_d96_m200_e20', (33.0, 42.0), (36.0, 43.0),
                      (700.0, 800.0), 6000.0)
    synthetic_variant(out, 'p8_d96_m200_e40', (35.0, 43.0), (37.0, 44.0),
                      (1400.0, 1600.0), 6000.0)
    # better on validation, worse on test, over the budget
    synthetic_variant(out, 'p4_d96_m200_e20', (40.0, 47.0), (30.0, 30.0),
                      (2800.0, 3000.0), 25000.0)
    # only one method finished
    write(osp.join(out, 'p8_d128_m200_e20', 'runs', 'seed0', 'la-ce.json'),
          dict(metrics=dict(top1=1.0), val_metrics=dict(top1=99.0),
               seconds=dict(train=1.0, test=1.0)))
    argv = ['aggregate', '--out', out, '--work-root', str(tmp_path / 'w'),
            '--calibrate-on', 'none', '--variants', 'p8_e20', 'p8_e40',
            'p4_e20', 'p8_d128_e20']
    assert cli.main(argv) == 0
    summary = json.load(open(osp.join(out, 'summary.json')))
    assert summary['chosen'] == 'p8_d96_m200_e40'
    by_name = {r['variant']: r for r in summary['variants']}
    first = by_name['p8_d96_m200_e20']
    assert first['mean_val_top1'] == pytest.approx(37.5)
    assert first['methods']['bal-bce']['images_per_s'] == pytest.approx(
        12406 * 20 / 700.0)
    assert first['estimate_h']['total'] == pytest.approx(
        pilot.estimate(750.0 / 20, 20.0, 6000.0, 20, 12406)['total'])
    assert by_name['p4_d96_m200_e20']['estimate_h']['total'] > 15
    assert not by_name['p8_d128_m200_e20']['complete']
    assert summary['convergence'][0]['methods']['bal-bce']['delta'] == \
        pytest.approx(2.0)
    # a result JSON per variant beside its runs
    saved = json.load(open(osp.join(out, 'p8_d96_m200_e40', 'result.json')))
    assert saved['variant'] == 'p8_d96_m200_e40'
    tables = open(osp.join(out, 'tables.md')).read()
    assert '| **p8_d96_m200_e40** | 8 | 96 | 200 | 40 | 35.0 | 43.0 | ' \
        '39.00 | 37.0 | 44.0 |' in tables
    assert '| p8_d128_m200_e20 (incomplete) |' in tables
    assert '**Chosen**: p8_d96_m200_e40' in tables
    assert '| p8_d96_m200_e20 | p8_d96_m200_e40 | +2.00 (≥ 1) | +1.00 ' \
        '(≥ 1) | no |' in tables
    assert 'Calibration: none' in tables


def test_no_finished_variant_fits_in_the_tables(tmp_path):
    out = str(tmp_path / 'out')
    synthetic_variant(out, 'p4_d96_m200_e20', (40.0, 47.0), (30.0, 30.0),
                      (9000.0, 9000.0), 50000.0)
    cli.main(['aggregate', '--out', out, '--calibrate-on', 'none',
              '--variants', 'p4'])
    tables = open(osp.join(out, 'tables.md')).read()
    assert '**Chosen**: none (no finished variant fits 15 h: the ' \
        'cheapest, p4_d96_m200_e20' in tables


# ----------------------------------------------------------------- jobs
def test_list_on_a_temp_work_root(tmp_path, capsys):
    work, out = str(tmp_path / 'work'), str(tmp_path / 'out')
    mgp = str(tmp_path / 'old_mgp')
    argv = ['list', '--work-root', work, '--out', out, '--variants',
            'p8_e20', 'p4_e20', 'p8_e40', '--mgp-from', f'p8_d96_m200={mgp}']
    write(osp.join(out, 'p8_d96_m200_e40', 'runs', 'seed0', 'la-ce.json'),
          {})
    assert cli.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    keys = [line.split()[1] for line in lines]
    # per MGP run: its MGP jobs, then the fine-tunings sharing it
    assert keys == [
        'p8_d96_m200_e20/mgp', 'p8_d96_m200_e40/mgp',
        'seed0/p8_d96_m200_e20/bal-bce', 'seed0/p8_d96_m200_e20/la-ce',
        'seed0/p8_d96_m200_e40/bal-bce', 'seed0/p8_d96_m200_e40/la-ce',
        'p4_d96_m200_e20/mgp', 'seed0/p4_d96_m200_e20/bal-bce',
        'seed0/p4_d96_m200_e20/la-ce'
    ]
    states = dict((line.split()[1], line.split()[0]) for line in lines)
    assert states['seed0/p8_d96_m200_e40/la-ce'] == 'done'
    assert states['seed0/p8_d96_m200_e20/la-ce'] == 'todo'
    assert osp.join(mgp, 'epoch_200.pth') in lines[2]
    assert osp.join(work, 'mgp', 'p4_d96_m200', 'epoch_200.pth') in lines[-1]


def test_pilot_jobs_are_converged_settings(tmp_path):
    args = cli.parse_args(['run', '--work-root', str(tmp_path / 'w'),
                           '--out', str(tmp_path / 'o'), '--variants',
                           'p4_d128_e40'])
    jobs, paths = cli.pilot_jobs(args.variants, args)
    by_key = {j.key: j for j in jobs}
    assert set(by_key) == {'p4_d128_m200_e40/mgp',
                           'seed0/p4_d128_m200_e40/bal-bce',
                           'seed0/p4_d128_m200_e40/la-ce'}
    assert paths['seed0/p4_d128_m200_e40/la-ce'] == str(
        tmp_path / 'o' / 'p4_d128_m200_e40' / 'runs' / 'seed0' /
        'la-ce.json')
    settings = cli.settings_of(args.variants[0], args)
    assert (settings.seeds, settings.methods, settings.epochs,
            settings.refine_epochs) == ([0], ['bal-bce', 'la-ce'], 40, 12)
    mgp = by_key['p4_d128_m200_e40/mgp'].steps()[0].command()
    assert 'model.neck.num_patches=64' in mgp
    assert mgp[mgp.index('--work-dir') + 1] == str(
        tmp_path / 'w' / 'mgp' / 'p4_d128_m200')
    train = by_key['seed0/p4_d128_m200_e40/bal-bce'].steps()[0].command()
    for option in ('train_cfg.max_epochs=40', 'model.backbone.patch_size=4',
                   'model.backbone.arch.embed_dims=128',
                   'model.head.in_channels=128'):
        assert option in train
    assert not glob.glob(str(tmp_path / 'o' / '*'))  # nothing written


FAKE_TOOLS = r'''
import json, os, sys, time
argv = sys.argv[1:]
def option(prefix, default):
    for arg in argv:
        if arg.startswith(prefix):
            return arg[len(prefix):]
    return default
work = argv[argv.index('--work-dir') + 1]
os.makedirs(work, exist_ok=True)
if argv[0] == 'tools/train.py' and argv[1].startswith('configs/mgp/'):
    # MGP: a log folder named by its start time, then the checkpoint
    folder = os.path.join(work, time.strftime('%Y%m%d_%H%M%S'))
    os.makedirs(folder, exist_ok=True)
    open(os.path.join(folder, 'run.log'), 'w').write('mgp\n')
    epochs = option('train_cfg.max_epochs=', '200')
    open(os.path.join(work, f'epoch_{epochs}.pth'), 'w').write('')
elif argv[0] == 'tools/train.py':
    ckpt = os.path.join(work, 'epoch_2.pth')
    open(ckpt, 'w').write('')
    open(os.path.join(work, 'last_checkpoint'), 'w').write(ckpt)
else:  # tools/test.py: a top-1 from the patch size and the split
    out = argv[argv.index('--out') + 1]
    top1 = 30.0 + 10 * (option('model.backbone.patch_size=', '8') == '4')
    top1 += 1.0 if 'val_config' in argv[1] else 0.0
    json.dump({'lt/top1': top1}, open(out, 'w'))
'''


def test_run_end_to_end_with_fake_tools(tmp_path, monkeypatch, capsys):
    """``run`` with the training and test tools replaced by a script that
    writes what they would (no training): every job of two variants that
    share an MGP run and a third with its own, the results and the
    aggregate; a second ``run`` has nothing left to do."""
    import stat
    import sys
    script = tmp_path / 'fake_tools.py'
    script.write_text(FAKE_TOOLS)
    python = tmp_path / 'python'
    python.write_text(f'#!/bin/sh\nexec {sys.executable} {script} "$@"\n')
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    settings_of = cli.settings_of

    def fake_settings(variant, args):
        s = settings_of(variant, args)
        s.python = str(python)
        return s

    monkeypatch.setattr(cli, 'settings_of', fake_settings)
    out, work = tmp_path / 'out', tmp_path / 'work'
    argv = ['run', '--work-root', str(work), '--out', str(out), '--jobs',
            '2', '--calibrate-on', 'none', '--variants', 'p8_e2', 'p8_e4',
            'p4_m3_e2']
    assert cli.main(argv) == 0
    assert 'aggregate after' not in capsys.readouterr().out  # per job
    mgp_runs = sorted(os.listdir(work / 'mgp'))
    assert mgp_runs == ['p4_d96_m3', 'p8_d96_m200']
    assert (work / 'mgp' / 'p4_d96_m3' / 'epoch_3.pth').is_file()
    summary = json.load(open(out / 'summary.json'))
    records = {r['variant']: r for r in summary['variants']}
    assert all(r['complete'] for r in records.values())
    assert records['p4_d96_m3_e2']['methods']['la-ce'] == dict(
        records['p4_d96_m3_e2']['methods']['la-ce'], val_top1=41.0,
        test_top1=40.0)
    assert summary['chosen'] == 'p4_d96_m3_e2'
    # both variants of one MGP run read the same MGP record
    mgp = [json.load(open(out / v / 'runs' / 'mgp.json'))
           for v in ('p8_d96_m200_e2', 'p8_d96_m200_e4')]
    assert mgp[0]['checkpoint'] == mgp[1]['checkpoint']
    assert (out / 'tables.md').is_file()
    assert (out / 'p8_d96_m200_e4' / 'result.json').is_file()
    # resumable: everything is done
    argv[argv.index('--jobs') + 1] = '1'
    assert cli.main(argv + ['--no-aggregate']) == 0


# --------------------------------------------------------------- screen
FAKE_RATES = {  # synthetic rates (images/s), no model measured
    (8, 96): dict(ft=400.0, mae=900.0, infer=2000.0),
    (4, 96): dict(ft=100.0, mae=300.0, infer=500.0),
    (8, 128): dict(ft=250.0, mae=600.0, infer=1200.0),
}


def test_scaled_costs_follow_the_rate_ratios():
    from tools.benchmark.regime_pilot import screen
    ref = dict(ft_epoch_s=40.0, test_s=10.0, mgp_s=7000.0)
    base = pilot.parse_variant('p8_e40')
    same = screen.scaled_costs(ref, base, base, FAKE_RATES)
    assert same == pytest.approx(ref)
    # the training part by the ft ratio, the monitor by the test ratio
    wide = screen.scaled_costs(ref, base, pilot.parse_variant('p8_d128_e40'),
                               FAKE_RATES)
    assert wide['ft_epoch_s'] == pytest.approx(30.0 * 400 / 250 +
                                               10.0 * 2000 / 1200)
    assert wide['mgp_s'] == pytest.approx(7000.0 * 900 / 600)
    # the reference's own row is the estimate of its measured costs
    row = screen.screen_record(base, ref, base, FAKE_RATES, 12406, 1.14)
    assert row['estimate_h']['total'] == pytest.approx(
        pilot.estimate(40.0, 10.0, 7000.0, 40, 12406, 1.14)['total'])
    assert row['speed_vs_reference'] == dict(ft=1.0, mae=1.0, infer=1.0)
    slow = screen.screen_record(pilot.parse_variant('p4_e40'), ref, base,
                                FAKE_RATES, 12406, 1.14, budget_h=15.0)
    assert slow['speed_vs_reference']['ft'] == pytest.approx(0.25)
    assert slow['estimate_h']['total'] > 15 and not slow['fits']


def test_arch_rates_interleave_every_workload_once():
    from tools.benchmark.regime_pilot import screen
    built, measured = [], {}

    def step_fns(dims, blocks, patch, batch_size):
        built.append((patch, dims, blocks))
        return {k: (lambda: None) for k in ('ft', 'more', 'mae', 'infer')}

    def measure(fns, sizes, rounds):
        measured.update(sizes)
        return {k: float(len(k)) for k in fns}

    got = screen.arch_rates([(8, 96), (4, 96), (8, 96)], 64, 2, step_fns,
                            measure)
    assert built == [(8, 96, 6), (4, 96, 6)]  # each model once
    assert measured['p4_d96/infer'] == 256 and measured['p8_d96/ft'] == 64
    assert set(got) == {(8, 96), (4, 96)}
    assert set(got[(4, 96)]) == {'ft', 'mae', 'infer'}


def test_screen_command_writes_its_table_and_run_skips_unfit(
        tmp_path, monkeypatch, capsys):
    from tools.benchmark.regime_pilot import cli as pilot_cli
    out = str(tmp_path / 'out')
    argv = ['--out', out, '--work-root', str(tmp_path / 'w'),
            '--calibrate-on', 'none', '--variants', 'p8_e40', 'p4_e40',
            'p8_d128_e40']
    # nothing finished: a one-line error
    assert pilot_cli.main(['screen'] + argv) == 2
    assert 'no variant of --variants has finished' in \
        capsys.readouterr().err
    synthetic_variant(out, 'p8_d96_m200_e40', (38.0, 45.0), (40.0, 46.0),
                      (1400.0, 1500.0), 7000.0)
    monkeypatch.setattr(
        pilot_cli, 'arch_rates',
        lambda archs, batch_size, rounds: {a: FAKE_RATES[a] for a in archs})
    assert pilot_cli.main(['screen'] + argv) == 0
    saved = json.load(open(osp.join(out, 'screen.json')))
    assert saved['reference'] == 'p8_d96_m200_e40'
    rows = {r['variant']: r for r in saved['variants']}
    assert rows['p8_d96_m200_e40']['fits']
    assert not rows['p4_d96_m200_e40']['fits']
    tables = open(osp.join(out, 'tables.md')).read()
    assert '## Throughput screen' in tables
    assert '| p4_d96_m200_e40 | 0.25x | 0.33x | 0.25x |' in tables
    # run --skip-unfit leaves out what the screen found over the budget
    seen = {}

    def spy(variants, args):
        seen['names'] = [v.name for v in variants]
        return [], {}

    monkeypatch.setattr(pilot_cli, 'pilot_jobs', spy)
    assert pilot_cli.main(['run', '--skip-unfit', '--no-aggregate'] +
                          argv) == 0
    assert 'skipped p4_d96_m200_e40' in capsys.readouterr().out
    assert 'p4_d96_m200_e40' not in seen['names']
    assert 'p8_d96_m200_e40' in seen['names']
