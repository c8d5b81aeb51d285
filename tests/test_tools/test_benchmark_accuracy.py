"""Pure helpers of tools/benchmark/cifar10_lt_accuracy.py (no training)."""
import argparse
import importlib.util
import math
from pathlib import Path

import pytest

_PATH = (Path(__file__).resolve().parents[2] / 'tools' / 'benchmark' /
         'cifar10_lt_accuracy.py')
_spec = importlib.util.spec_from_file_location('cifar10_lt_accuracy', _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_cifar_lt_counts_protocol():
    counts = bench.cifar_lt_counts()
    assert counts == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    assert sum(counts) == 12406
    assert sum(bench.cifar_lt_counts(imb_ratio=50)) == 13996
    with pytest.raises(ValueError, match='imb_ratio'):
        bench.cifar_lt_counts(imb_ratio=0.5)


def test_mean_std_and_format():
    assert bench.mean_std([1.0, 3.0])[:2] == (2.0, math.sqrt(2.0))
    assert bench.mean_std([5.0]) == (5.0, 0.0, 1)
    assert bench.mean_std([float('nan'), None, 2.0]) == (2.0, 0.0, 1)
    assert math.isnan(bench.mean_std([])[0])
    assert bench.format_mean_std([1.0, 3.0]) == '2.0 ± 1.4'
    assert bench.format_mean_std([4.25]) == '4.2'
    assert bench.format_mean_std([]) == '-'


def test_strip_prefix():
    assert bench.strip_prefix({'lt/top1': 1.0, 'x': 2}) == {'top1': 1.0,
                                                            'x': 2}


def test_proxy_at_nearest_weight():
    search = dict(
        grid=dict(proxy=[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
        w_grid=[0.25, 0.5, 0.75])
    assert bench.proxy_at(search, 1, 0.3) == 4.0
    assert bench.proxy_at(search, 0, 0.7) == 3.0
    with pytest.raises(ValueError, match='C=2'):
        bench.proxy_at(search, 2, 0.5)


def test_spearman_regret_and_choice():
    assert bench.spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert bench.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(bench.spearman([1, 2], [1, 2]))
    assert math.isnan(bench.spearman([1, 1, 1], [1, 2, 3]))
    errors = {(1, 0.3): 40.0, (2, 0.5): 50.0}
    assert bench.regret(errors, (2, 0.5)) == pytest.approx(0.25)
    assert bench.regret(errors, (1, 0.3)) == 0.0
    # ties: larger C first, then w_A closer to 0.5
    proxy = {(1, 0.5): 1.0, (2, 0.3): 1.0, (2, 0.5): 1.0, (0, 0.5): 2.0}
    assert bench.proxy_grid_choice(proxy) == (2, 0.5)


def test_proxy_validation_and_table():
    def grid(seed, c, w, top1):
        return {
            seed:
            dict(
                method='grid',
                C=c,
                w_A=w,
                metrics=dict(top1=top1),
                seconds=dict(refine=1.0, test=5.0),
                stage1_s=2.0,
                stage2_s=3.0)
        }

    results = {
        'grid_C1_w0.30': grid(0, 1, 0.3, 60.0),
        'grid_C1_w0.70': grid(0, 1, 0.7, 50.0),
        'grid_C2_w0.30': grid(0, 2, 0.3, 55.0),
        'search_raw': {
            0: dict(
                proxy=[[9.0, 9.0], [1.0, 3.0], [2.0, 2.5]],
                w_grid=[0.3, 0.7],
                chosen=dict(C=1, w_A=0.3))
        },
    }
    val = bench.proxy_validation(results)
    assert list(val) == ['raw']
    entry = val['raw']['per_seed'][0]
    # errors 40 / 50 / 45 against proxy 1 / 3 / 2: perfectly ranked
    assert entry['spearman'] == pytest.approx(1.0)
    assert entry['best_point'] == [1, 0.3]
    assert entry['regret_grid_choice'] == 0.0
    rows = bench.table_rows(results)
    assert [r['name'] for r in rows] == [
        'grid_C1_w0.30', 'grid_C1_w0.70', 'grid_C2_w0.30'
    ]
    text = bench.markdown_table(rows, expected_seeds=3)
    assert '1 (incomplete)' in text and '60.0' in text
    assert bench.train_wall(results['grid_C1_w0.30'][0]) == 6.0  # no test


def test_spearman_within_depth():
    proxy = {(1, 0.3): 1.0, (1, 0.5): 2.0, (1, 0.7): 3.0,
             (2, 0.3): 3.0, (2, 0.5): 2.0, (2, 0.7): 1.0}
    errors = {p: v for p, v in proxy.items()}
    assert bench.spearman_within_depth(proxy, errors) == pytest.approx(1.0)
    errors[(2, 0.3)], errors[(2, 0.7)] = 1.0, 3.0
    assert bench.spearman_within_depth(proxy, errors) == pytest.approx(0.0)


def test_imb_ratio_option_sets_folders():
    default = bench.parse_args(['aggregate'])
    assert default.imb_ratio == 100
    assert default.work_dir == 'work_dirs/benchmark_cifar10_lt'
    assert default.out_dir == 'docs/benchmarks'
    ir50 = bench.parse_args(['run', '--imb-ratio', '50'])
    assert ir50.work_dir == 'work_dirs/benchmark_cifar10_lt_ir50'
    assert ir50.out_dir == 'docs/benchmarks/ir50'
    mine = bench.parse_args(['run', '--imb-ratio', '50', '--work-dir', 'w'])
    assert mine.work_dir == 'w'
    with pytest.raises(SystemExit):
        bench.parse_args(['run', '--imb-ratio', '0'])


def test_bench_configs_read_the_imb_ratio(monkeypatch):
    from mmengine import Config
    cfg_dir = _PATH.parents[2] / 'configs' / 'benchmarks' / 'cifar10_lt'
    cfg = Config.fromfile(str(cfg_dir / 'vit-mini-p8_ce.py'))
    assert cfg.train_dataloader.dataset.imb_ratio == 100
    monkeypatch.setenv(bench.IMB_ENV, '50')
    cfg = Config.fromfile(str(cfg_dir / 'osdtw_stage1_head.py'))
    assert cfg.train_dataloader.dataset.dataset.imb_ratio == 50


def test_driver_reads_the_pipeline_ledger(tmp_path):
    """The driver resolves a pipeline step's artifacts with StepLedger."""
    driver = bench.Benchmark(argparse.Namespace(work_dir=str(tmp_path)))
    step = tmp_path / 'seed0' / 'osdtw' / 'stage1_head'
    step.mkdir(parents=True)
    (step / 'done.json').write_text(
        '{"artifacts": {"checkpoint": "stage1_head/epoch_3.pth"},'
        ' "seconds": 4.5}')
    assert driver.stage1_done(0, 'head') == str(step / 'done.json')
    assert driver.ledger(0).artifact('stage1_head',
                                     'checkpoint') == str(step / 'epoch_3.pth')

def test_gpu_scale_options():
    args = bench.parse_args(
        ['run', '--arch', 'small', '--epochs', '30', '--workers', '4',
         '--amp'])
    assert args.depths == [3, 6, 12]
    assert args.work_dir == 'work_dirs/benchmark_cifar10_lt_small_e30_amp'
    assert args.out_dir == 'docs/benchmarks/small_e30_amp'
    env = bench.Benchmark(args).env()
    assert env['OSDTW_BENCH_LAYERS'] == '12'
    assert env['OSDTW_BENCH_PATCH'] == '4'
    assert env['OSDTW_BENCH_EPOCHS'] == '30'
    assert env['OSDTW_BENCH_REFINE_EPOCHS'] == '10'
    assert env['OSDTW_BENCH_WORKERS'] == '4'
    cmd = bench.Benchmark(args).train_cmd('x.py', 'w', 0)
    assert '--amp' in cmd
    assert bench.parse_args(['run']).depths == [1, 2, 4]
    with pytest.raises(SystemExit):
        bench.parse_args(['run', '--depths', '6'])  # mini has 4 blocks
    with pytest.raises(SystemExit):
        bench.parse_args(['run', '--epochs', '1'])


def test_bench_configs_read_the_arch(monkeypatch):
    from mmengine import Config
    args = bench.parse_args(['run', '--arch', 'small', '--epochs', '6'])
    for key, value in bench.Benchmark(args).env().items():
        monkeypatch.setenv(key, value)
    cfg_dir = _PATH.parents[2] / 'configs' / 'benchmarks' / 'cifar10_lt'
    cfg = Config.fromfile(str(cfg_dir / 'osdtw_stage2_joint.py'))
    assert cfg.model.shared_depth == 12
    assert cfg.model.backbone.arch['embed_dims'] == 384
    assert cfg.model.head.in_channels == 384
    assert cfg.train_cfg.max_epochs == 6
    refine = Config.fromfile(str(cfg_dir / 'osdtw_stage3_refine.py'))
    assert refine.train_cfg.max_epochs == 2


def test_replot_redraws_both_plots_from_a_summary(tmp_path):
    """``replot`` draws the per-class curves and the grid heat maps from
    the committed IR-100 summary alone (the runs are not needed)."""
    import shutil
    summary = _PATH.parents[2] / 'docs' / 'benchmarks' / 'accuracy.json'
    shutil.copy(summary, tmp_path / 'accuracy.json')
    args = bench.parse_args(['replot', str(tmp_path / 'accuracy.json')])
    assert bench.replot(args) == 0
    for name in ('accuracy_per_class.png', 'accuracy_grid_heatmaps.png'):
        assert (tmp_path / name).stat().st_size > 10_000, name
