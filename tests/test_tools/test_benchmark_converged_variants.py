"""The ways of choosing (C, w_A) judged on the validation grids
(tools/benchmark/converged/variants.py), on synthetic result dicts."""
import math

import pytest

from tools.benchmark.converged import plots, results, variants


def grid(top1, nll, val):
    """A synthetic 2 x 2 grid (C in {0, 6}, w_A in {0.3, 0.7})."""
    points = [(0, 0.3), (0, 0.7), (6, 0.3), (6, 0.7)]
    return {
        p: dict(C=p[0], w_A=p[1], metrics=dict(top1=t),
                assembled_metrics=dict(nll=n), val_metrics=dict(top1=v))
        for p, t, n, v in zip(points, top1, nll, val)
    }


def runs_of(grids, proxies):
    """``load_runs``-shaped dict: the grids by seed and one search
    (``search_<key>``) per proxy, whose proxy rows are C = 0..6 over
    w_A in (0.3, 0.7)."""
    runs = {}
    for seed, cells in grids.items():
        for (c, w), r in cells.items():
            runs.setdefault(f'grid_C{c}_w{w:.2f}', {})[seed] = r
    for key, by_seed in proxies.items():
        for seed, (row0, row6) in by_seed.items():
            runs.setdefault(f'search_{key}', {})[seed] = dict(
                w_grid=[0.3, 0.7],
                proxy=[row0] + [[9.0, 9.0]] * 5 + [row6],
                chosen=dict(C=0, w_A=0.3))
    return runs


def test_the_assembled_validation_choice_reads_its_own_job():
    cells = grid([70, 72, 75, 74], [3.0, 2.5, 2.0, 2.2], [71, 70, 74, 76])
    runs = runs_of({1: cells}, {})
    runs['assembled_val'] = {1: dict(cells=[
        [0, 0.3, dict(top1=50.0)], [0, 0.7, dict(top1=51.0)],
        [6, 0.3, dict(top1=60.0)], [6, 0.7, dict(top1=55.0)]])}
    analysis = results.ablation_summary(runs, ())['1']['analysis']
    # assembled: best validation (60) at (6, 0.3), the test best: regret 0
    assert analysis['validation-assembled']['proxy_choice'] == [6, 0.3]
    assert analysis['validation-assembled']['proxy_regret'] == 0.0
    # refined: best validation (76) at (6, 0.7)
    assert analysis['validation']['proxy_choice'] == [6, 0.7]
    assert results.score_label('validation-assembled') == \
        'validation error (%, assembled)'


def test_the_validation_choice_is_scored_like_a_proxy():
    cells = grid([70, 72, 75, 74], [3.0, 2.5, 2.0, 2.2], [71, 70, 74, 76])
    a = results.validation_analysis(cells)
    # the best validation top-1 (76) is (6, 0.7); the test best is (6, 0.3)
    assert a['proxy_choice'] == [6, 0.7]
    assert a['proxy_regret'] == pytest.approx(1.0)
    assert a['proxy_vs_val_choice'] == 0.0
    # a cell without a validation top-1: no validation choice
    cells[(0, 0.3)]['val_metrics'] = {}
    assert results.validation_analysis(cells) is None


def test_a_variant_passes_only_on_every_judged_grid():
    good = grid([70, 72, 75, 74], [3.0, 2.5, 2.0, 2.2], [71, 70, 74, 76])
    runs = runs_of(
        {1: good, 2: good},
        # ordered like the NLL at both seeds: regret 0, Spearman 1
        {'sgd-scale': {1: ([3.0, 2.5], [2.0, 2.2]),
                       2: ([3.0, 2.5], [2.0, 2.2])},
         # right at seed 1, reversed at seed 2
         'displacement': {1: ([3.0, 2.5], [2.0, 2.2]),
                          2: ([1.0, 1.5], [2.0, 1.8])}})
    ablation = results.ablation_summary(runs, ('sgd-scale', 'displacement'))
    evaluation = {v['key']: v for v in variants.evaluate_variants(ablation)}
    assert evaluation['sgd-scale']['passes'] is True
    assert evaluation['displacement']['passes'] is False
    seed2 = evaluation['displacement']['by_seed'][2]
    assert seed2['choice'] == [0, 0.3] and seed2['regret'] == 5.0
    assert not seed2['regret_ok'] and not seed2['spearman_ok']
    # the validation choice is a variant too: regret 1 > 0.5 point
    assert evaluation['validation']['passes'] is False
    # a judged grid still missing: no verdict yet
    partial = {k: v for k, v in ablation.items() if k == '1'}
    pending = {v['key']: v for v in variants.evaluate_variants(partial)}
    assert pending['sgd-scale']['passes'] is None
    assert pending['sgd-scale']['judged_missing'] == [2]
    text = variants.markdown_variants(
        list(evaluation.values()), None, {})
    assert '| N calibrated on a second seed (the default) | **passes** |' in text
    assert '| N calibrated on the displacement from MGP | fails |' in text


def test_the_spread_and_the_costs_come_from_the_results():
    across = {(0, 0.3): dict(top1=[40.0, 42.0], nll=[1, 1], seeds=[0, 1]),
              (6, 0.3): dict(top1=[40.0, 41.0], nll=[1, 1], seeds=[0, 1]),
              (6, 0.7): dict(top1=[40.0], nll=[1], seeds=[0])}
    spread = variants.cell_spread(across)
    assert spread['cells'] == 2
    assert spread['max_std'] == pytest.approx(math.sqrt(2))
    assert variants.cell_spread({(0, 0.3): across[(6, 0.7)]}) is None
    runs = {
        'osdtw': {
            1: dict(timings=dict(stage1_head=100.0, stage1_tail=50.0,
                                 stage2=30.0)),
            2: dict(timings=dict(stage1_head=110.0, stage1_tail=60.0)),
        },
        'bal-bce': {1: dict(seconds=dict(train=90.0, test=5.0))},
        'search_sgd-noise': {1: dict(seconds=dict(
            sgd_noise_head=2.0, sgd_noise_tail=3.0, search=1.0))},
        'search_sgd-scale': {1: dict(sgd_noise_seed=2,
                                     seconds=dict(search=1.0))},
        'search_displacement': {1: dict(seconds=dict(
            displacement_head=4.0, search=1.0))},
        'stage2_w0.30': {1: dict(seconds=dict(train=40.0, test=9.0))},
        'grid_C6_w0.30': {1: dict(seconds=dict(
            assemble=1.0, refine=10.0, val=2.0, test=9.0))},
        'assembled_val': {1: dict(seconds={'C6_w0.30': 3.0})},
    }
    costs = variants.choosing_costs(runs, 1)
    assert costs['pipeline'] == 180.0 and costs['bal_bce'] == 90.0
    # the partner (seed 2) trains the second seed: 110 + 60, noise 5,
    # search 1
    # the pipeline's validation mode: its one stage-2 model reused (40 -
    # 40), an assembly (1) and a validation pass (3)
    assert costs['extra'] == {'debiased-positive': 0.0, 'sgd-scale': 176.0,
                              'displacement': 5.0, 'validation': 53.0,
                              'validation-assembled': 4.0}
    assert variants.choosing_costs(runs, 5) is None
    text = variants.markdown_variants(
        [dict(key='sgd-scale', label='N calibrated on a second seed',
              setting='x', by_seed={}, judged_missing=[1, 2],
              passes=None)], spread, {1: costs})
    assert '| 1 | 180 | 90 | 0 (2.0x) | 176 (4.0x) | 5 (2.1x) | 4 (2.0x) | '\
        '53 (2.6x) |' in text


def test_the_grid_over_seeds_is_drawn(tmp_path):
    across = {(0, 0.3): dict(top1=[40.0, 42.0], nll=[1, 1], seeds=[0, 1]),
              (6, 0.3): dict(top1=[40.0, 41.0], nll=[1, 1], seeds=[0, 1])}
    path = tmp_path / 'grid.png'
    assert plots.plot_grid_across_seeds(across, str(path))
    assert path.stat().st_size > 0
    single = {(0, 0.3): dict(top1=[40.0], nll=[1], seeds=[0])}
    assert not plots.plot_grid_across_seeds(single, str(tmp_path / 'x.png'))


def test_a_way_of_choosing_becomes_a_main_table_row():
    """``chosen_cell_runs``: per seed, the refined grid cell the variant's
    proxy picks (here the lowest proxy, (6, 0.3) on seed 1 and (0, 0.7) on
    seed 2), with its choice for the inference-cost row."""
    runs = runs_of(
        {1: grid([70, 72, 75, 74], [3.0, 2.5, 2.0, 2.2], [71, 70, 74, 76]),
         2: grid([71, 73, 70, 69], [3.0, 2.5, 2.0, 2.2], [71, 70, 74, 76])},
        {'sgd-scale': {1: ([5.0, 5.0], [1.0, 2.0]),
                       2: ([3.0, 1.0], [4.0, 4.0])}})
    ablation = results.ablation_summary(runs, ('sgd-scale', ))
    got = results.chosen_cell_runs(runs, ablation, 'sgd-scale')
    assert sorted(got) == [1, 2]
    assert got[1]['metrics'] == dict(top1=75)
    assert got[1]['chosen'] == dict(shared_depth=6, head_weight=0.3)
    assert got[2]['metrics'] == dict(top1=73)
    assert got[2]['val_metrics'] == dict(top1=70)
    rows = results.main_rows({'x': got}, [('x', 'X')])
    assert rows[0]['seeds'] == [1, 2]
    assert results.chosen_cell_runs(runs, ablation, 'displacement') == {}
