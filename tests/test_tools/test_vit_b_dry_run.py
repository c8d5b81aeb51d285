"""tools/benchmark/vit_b_dry_run.py: the synthetic list folder, and the
whole Places-LT OSDTW pipeline (its MGP step included) at ``--tiny`` size (the
ViT-B configs with a 32-dim, 2-block encoder: the same code paths, minutes
less), each stage reported with its time per iteration and peak memory."""
import importlib.util
from pathlib import Path

from _tools import REPO, run_tool

SCRIPT = REPO / 'tools' / 'benchmark' / 'vit_b_dry_run.py'


def load_script():
    spec = importlib.util.spec_from_file_location('vit_b_dry_run', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_synthetic_lists_in_the_official_layout(tmp_path):
    dry = load_script()
    counts = dry.write_lt_lists(str(tmp_path), 'Places_LT', 365, size=8)
    assert counts == dict(train=10 * 3 + 355, val=4, test=4)
    lines = (tmp_path / 'Places_LT_train.txt').read_text().splitlines()
    labels = sorted({int(line.split()[1]) for line in lines})
    assert labels == list(range(365))  # every class in the training list
    rel, label = lines[0].split()
    assert (tmp_path / rel).is_file() and label == '0'


def test_every_vit_b_config_is_a_chain():
    dry = load_script()
    configs = [config for _, config in dry.chains('imagenet_lt')]
    expected = sorted(
        str(p.relative_to(REPO))
        for kind in ('mgp', 'baselines', 'more')
        for p in (REPO / 'configs' / kind / 'imagenet_lt').glob('*.py'))
    assert sorted(configs[:-1]) == expected
    assert configs[-1] == 'configs/osdtw/imagenet_lt/pipeline.py'


def test_tiny_pipeline_reports_every_stage(tmp_path):
    proc = run_tool(SCRIPT, '--tiny', '--benchmark', 'places_lt', '--kind',
                    'osdtw', '--work-dir', tmp_path, timeout=600)
    table = [
        line.split('|')[1:-1] for line in proc.stdout.splitlines()
        if line.startswith('| ') and 'chain' not in line
    ]
    rows = {(c.strip(), s.strip()): (it, step, rss)
            for c, s, it, step, rss, _cuda, _code in table}
    pipeline = {s: v for (c, s), v in rows.items() if 'osdtw' in c}
    assert {'mgp', 'stage1_head', 'stage1_tail', 'fisher_cross', 'search',
            'stage2', 'assemble', 'refine'} <= set(pipeline)
    for stage, (per_iter, step_s, rss) in pipeline.items():
        assert float(step_s) >= 0 and float(rss.replace(',', '')) > 0, stage
    for stage in ('mgp', 'stage1_head', 'stage1_tail', 'stage2', 'refine'):
        assert float(pipeline[stage][0]) > 0, stage  # logged iterations
    assert all(code.strip() == '0' for *_, code in table)
    assert Path(tmp_path, 'data/places365/Places_LT_test.txt').is_file()
