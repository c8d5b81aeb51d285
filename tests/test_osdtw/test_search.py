"""Tests of the OSDTW search: search.json, heat map, CLI (the statistics
files it reads: tests/test_osdtw/test_fisher/test_stats_pairing.py)."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _toy_stats import NUM_SAMPLES, task_file

from mmpretrain_osdtw.osdtw.fisher import load_stats
from mmpretrain_osdtw.osdtw.proxy import make_w_grid, proxy_grid
from mmpretrain_osdtw.osdtw.search import (plot_heatmap, result_grid,
                                           run_search, save_search_json)

torch.set_num_threads(1)
REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = REPO_ROOT / 'tools' / 'osdtw_search.py'


def _run_cli(*args):
    return subprocess.run(
        [sys.executable, str(TOOL), *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120)


@pytest.mark.parametrize('variant', ['full', 'paper'])
def test_run_search_and_outputs(tmp_path, artifacts, variant):
    result = run_search(
        artifacts['head'],
        artifacts['tail'],
        artifacts['cross'],
        w_step=0.05,
        variant=variant)
    inputs = load_stats(artifacts['head'], artifacts['tail'],
                        artifacts['cross'])
    grid = proxy_grid(
        inputs.for_variant(variant),
        2,
        NUM_SAMPLES,
        make_w_grid(0.05),
        variant=variant)
    c, w = grid.argmin()
    assert result['chosen']['C'] == c and result['chosen']['w_A'] == w
    assert result['chosen']['w_B'] == pytest.approx(1 - w)
    assert result['variant'] == variant and result['mismatch'] == 'debiased'
    assert result['N'] == NUM_SAMPLES and result['L'] == 2
    assert len(result['w_grid']) == 21
    assert torch.allclose(
        torch.tensor(result['grid']['proxy'], dtype=torch.float64), grid.proxy)
    for key in ('proxy', 'enc_var', 'enc_bias', 'dec_var'):
        rows = result['grid'][key]
        assert len(rows) == 3 and all(len(r) == 21 for r in rows)
    assert set(result['timings']) >= {'load_s', 'proxy_s', 'total_s'}
    if variant == 'paper':
        assert result['chosen']['w_A'] == 0.5

    out = tmp_path / 'out'
    save_search_json(result, str(out / 'search.json'))
    plot_heatmap(result, str(out / 'proxy_heatmap.png'))
    loaded = json.loads((out / 'search.json').read_text())
    assert loaded == json.loads(json.dumps(result))
    assert torch.allclose(result_grid(loaded).proxy, grid.proxy)
    assert (out / 'proxy_heatmap.png').read_bytes()[:8] == \
        b'\x89PNG\r\n\x1a\n'
    assert sorted(os.listdir(out)) == ['proxy_heatmap.png', 'search.json']


def test_cli_writes_outputs(tmp_path, artifacts):
    out = tmp_path / 'search'
    proc = _run_cli(artifacts['head'], artifacts['tail'], '--cross',
                    artifacts['cross'], '--out-dir', out, '--w-step', '0.1',
                    '--mismatch', 'raw')
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / 'search.json').read_text())
    assert (out / 'proxy_heatmap.png').is_file()
    assert result['mismatch'] == 'raw' and len(result['w_grid']) == 11
    chosen = result['chosen']
    assert f"chosen: C={chosen['C']}  w_A={chosen['w_A']:g}" in proc.stdout
    assert '<- chosen' in proc.stdout


def _load_tool():
    spec = importlib.util.spec_from_file_location('osdtw_search_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_incompatible_exit_2(tmp_path, artifacts, capsys):
    bad_tail = tmp_path / 'fisher_tail_bad.pth'
    torch.save(task_file('tail', 2, num_samples=7), bad_tail)
    code = _load_tool().main(
        [artifacts['head'],
         str(bad_tail), '--out-dir',
         str(tmp_path / 'o1')])
    err = capsys.readouterr().err
    assert code == 2
    assert str(bad_tail) in err and 'num_samples' in err
    assert not (tmp_path / 'o1' / 'search.json').exists()


def test_cli_missing_file_exit_2(tmp_path, artifacts):
    # a real process: exit status 2, a one-line message, no traceback
    proc = _run_cli(artifacts['head'], tmp_path / 'missing.pth', '--out-dir',
                    tmp_path / 'o2')
    assert proc.returncode == 2
    assert 'missing.pth' in proc.stderr and 'Traceback' not in proc.stderr
    proc = _run_cli(artifacts['head'], artifacts['tail'], '--out-dir',
                    tmp_path / 'o3', '--variant', 'bogus')
    assert proc.returncode == 2 and 'invalid choice' in proc.stderr
