"""The converged benchmark's comparison at equal inference cost: the
ensemble config the driver writes, each row's cost, the best rival at no
more cost and the paired differences (synthetic result dicts)."""
import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

import mmpretrain_osdtw  # noqa: F401
from tools.benchmark.converged import comparison, results
from tools.benchmark.converged.jobs import (CFG_DIR, Settings,
                                            ensemble_partner,
                                            write_ensemble_config)


def test_the_ensemble_config_holds_the_setting(tmp_path):
    settings = Settings('work', 'out', patch_size=4, embed_dims=128,
                        imb_ratio=50)
    config = f'{CFG_DIR}/vit-d96-p8_la-ce.py'
    out = write_ensemble_config(config, settings.cfg_options(
        'vit-d96-p8_la-ce.py'), 2, str(tmp_path / 'ens.py'))
    cfg = Config.fromfile(out)
    assert cfg.model.type == 'ScoreEnsemble'
    assert len(cfg.model.members) == 2
    member = cfg.model.members[1]
    assert member.backbone.patch_size == 4
    assert member.backbone.arch.embed_dims == 128
    assert member.head.in_channels == 128
    assert cfg.train_dataloader.dataset.imb_ratio == 50
    cfg.model.data_preprocessor = cfg.data_preprocessor
    model = MODELS.build(cfg.model)
    model.eval()
    with torch.no_grad():
        out = model.predict(torch.randn(2, 3, 32, 32))
    assert out[0].pred_score.shape == (10, )
    assert [ensemble_partner(s, [3, 5]) for s in (3, 5)] == [5, 3]


COST = dict(
    batch_sizes=[1, 128],
    threads=1,
    machine='synthetic',
    rows=[
        dict(name='reference', params=1_000_000, gflops=0.01,
             ms_per_image={'1': 2.0, '128': 0.5}),
        dict(name='model C=0', params=2_000_000, gflops=0.02,
             ms_per_image={'1': 4.0, '128': 1.0}),
        dict(name='model C=4', params=1_300_000, gflops=0.013,
             ms_per_image={'1': 2.6, '128': 0.65}),
        dict(name='ensemble of 2', params=2_000_000, gflops=0.02,
             ms_per_image={'1': 4.1, '128': 1.0}),
    ])


def row(name, label, test, val, chosen=None):
    return dict(name=name, label=label, seeds=[0, 1, 2],
                metrics=[dict(top1=t) for t in test],
                val_metrics=[dict(top1=v) for v in val],
                wall=[1.0] * 3, convergence=[None] * 3,
                chosen=chosen or [None] * 3)


def rows():
    return [
        row('bal-bce', 'Bal-BCE', [36.0, 36.5, 35.5], [34, 34, 34]),
        row('la-ce', 'LA-CE', [42.0, 43.0, 41.0], [40, 41, 40]),
        row('ensemble2_la-ce', '2-model ensemble of LA-CE',
            [45.0, 45.0, 45.0], [43, 43, 43]),
        row('osdtw', 'OSDTW', [41.0, 42.0, 40.0], [39, 39, 39],
            chosen=[dict(shared_depth=0), dict(shared_depth=4),
                    dict(shared_depth=0)]),
    ]


def test_each_row_costs_the_model_it_tests():
    costs = comparison.row_costs(rows(), COST)
    assert [c['name'] for c in costs['bal-bce']] == ['reference'] * 3
    assert [c['name'] for c in costs['osdtw']] == [
        'model C=0', 'model C=4', 'model C=0']
    assert costs['ensemble2_la-ce'][0]['name'] == 'ensemble of 2'
    assert comparison.cost_cells(costs['osdtw'], [1, 128]) == [
        '1.30-2.00', '0.013-0.02', '2.6-4', '0.65-1']
    assert comparison.row_costs(rows(), None) == {}
    table = results.markdown_main_table(rows(), 3, costs, [1, 128])
    assert table.splitlines()[0].endswith(
        '| params (M) | GFLOPs/img | ms/img @ 1 | ms/img @ 128 |')
    assert '| 1.00 | 0.01 | 2 | 0.5 |' in table.splitlines()[2]


def test_the_rival_at_no_more_cost_is_chosen_on_validation():
    costs = comparison.row_costs(rows(), COST)
    # OSDTW's cheapest model (C = 4) has 1.3M parameters: the ensemble
    # (2M) costs more, LA-CE (1M) has the best validation top-1 of the rest
    assert comparison.best_rival(rows(), costs)['name'] == 'la-ce'
    paired = comparison.paired_rows(rows(), costs)
    assert [p['rival'] for p in paired] == ['Bal-BCE', 'LA-CE']
    assert paired[0]['difference']['mean'] == pytest.approx(5.0)
    assert paired[1]['difference']['mean'] == pytest.approx(-1.0)
    text = comparison.markdown_paired(paired)
    assert '| OSDTW | Bal-BCE | its base loss | +5.0 [3.8, 6.2] (n=3) |' in text
    # without costs: only the base loss
    assert len(comparison.paired_rows(rows(), {})) == 1


def test_the_validation_choice_pipeline_starts_from_the_proxy_runs_steps(
        tmp_path):
    from tools.benchmark.converged.jobs import Protocol
    protocol = Protocol(Settings(str(tmp_path / 'w'), str(tmp_path / 'o'),
                                 python='python', imb_ratio=50))
    job = {j.key: j for j in protocol.jobs()}['seed0/osdtw_validation']
    steps = job.steps()
    assert [s.label for s in steps] == [
        'copy_stage1_head', 'copy_stage1_tail', 'copy_fisher_cross',
        'pipeline', 'val']
    assert steps[0].command() == [
        'cp', '-a', '-n', protocol.ledger(0).step_dir('stage1_head'),
        protocol.run_dir(0, 'osdtw_validation') + '/']
    argv = steps[3].command()
    assert argv[2].endswith('osdtw_pipeline_validation.py')
    assert 'train_cfg.validation.dataset.imb_ratio=50' in argv


def test_the_benchmark_validation_pipeline_builds_its_runner(tmp_path):
    from mmpretrain_osdtw.engine.runner.stage_runner import StageRunner
    cfg = Config.fromfile(f'{CFG_DIR}/osdtw_pipeline_validation.py')
    cfg.work_dir = str(tmp_path / 'work')
    runner = StageRunner.from_cfg(cfg)
    assert runner.step_names[3:8] == (
        'search', 'validation_stage2_w0.3', 'validation_stage2_w0.5',
        'validation_stage2_w0.7', 'validation')
