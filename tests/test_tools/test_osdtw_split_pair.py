"""tools/osdtw_split_pair.py: a stage-1 pair checkpoint into the two task
models and their statistics, with the Digits-LT configs."""
import numpy as np
import torch
from _tools import REPO, run_tool

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.apis import build_model, load_config
from mmpretrain_osdtw.datasets import get_class_counts
from mmpretrain_osdtw.osdtw import load_task_stats, run_search

PAIR = REPO / 'configs/osdtw/digits_lt/stage1_pair.py'


def pair_checkpoint(path):
    """An initialised pair with the Digits-LT training counts, saved as a
    Runner would (the hooks are not needed for the split)."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import DATASETS
    cfg = load_config(str(PAIR))
    torch.manual_seed(0)
    model = build_model(cfg)
    model.init_weights()
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        counts = get_class_counts(
            DATASETS.build(cfg.train_dataloader.dataset))
    for sub in model.tasks.values():
        sub.head.set_class_counts(np.asarray(counts))
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return counts


def test_split_writes_task_models_and_statistics(tmp_path):
    ckpt = tmp_path / 'pair.pth'
    counts = pair_checkpoint(ckpt)
    out = tmp_path / 'stage1'
    proc = run_tool('tools/osdtw_split_pair.py', PAIR, ckpt, '--out-dir', out)
    assert 'head statistics' in proc.stdout
    for task in ('head', 'tail'):
        state = torch.load(out / f'{task}_from_pair.pth')['state_dict']
        assert 'backbone.cls_token' in state
        stats = load_task_stats(str(out / f'fisher_{task}.pth'), task)
        assert stats['num_samples'] == stats['train_size'] == sum(counts)
        assert stats['meta']['class_counts'] == list(counts)
    result = run_search(str(out / 'fisher_head.pth'),
                        str(out / 'fisher_tail.pth'))
    assert 0 <= result['chosen']['C'] <= 4


def test_split_errors_name_the_problem(tmp_path):
    proc = run_tool('tools/osdtw_split_pair.py', PAIR, tmp_path / 'nope.pth',
                    '--out-dir', tmp_path, check=False)
    assert proc.returncode == 2 and 'nope.pth' in proc.stderr
    plain = tmp_path / 'plain.pth'
    torch.save(dict(state_dict={'backbone.cls_token': torch.zeros(1)}),
               plain)
    proc = run_tool('tools/osdtw_split_pair.py', PAIR, plain, '--out-dir',
                    tmp_path, '--no-fisher', check=False)
    assert proc.returncode == 2
    assert 'plain.pth' in proc.stderr and 'TaskPairClassifier' in \
        proc.stderr
    garbage = tmp_path / 'garbage.pth'
    garbage.write_bytes(b'not a checkpoint')
    proc = run_tool('tools/osdtw_split_pair.py', PAIR, garbage, '--out-dir',
                    tmp_path, '--no-fisher', check=False)
    assert proc.returncode == 2
    assert 'garbage.pth: not a checkpoint torch can read' in proc.stderr
    proc = run_tool('tools/osdtw_split_pair.py', PAIR, plain, '--out-dir',
                    tmp_path, '--head-config', tmp_path / 'x.py',
                    check=False)
    assert proc.returncode == 2 and '--head-config' in proc.stderr
