"""End-to-end: tools/train.py with a MORE config on a tiny image set on
disk, then tools/test.py with the PLAIN baseline config on merged.pth."""
import pickle
import runpy
import sys
from pathlib import Path

import pytest
import torch
from _tools import REPO, TOOLS, run_log
from _tools import run_tool as _run_tool
from _toy_images import toy_config, write_toy_dataset
from mmengine.config import Config
from mmpretrain.apis import ImageClassificationInferencer
from mmpretrain.registry import MODELS

import mmpretrain_osdtw  # noqa: F401

MORE_BASE = REPO / 'configs/more/digits_lt/vit-nano-p2_more_bal-bce.py'
PLAIN_BASE = REPO / 'configs/baselines/digits_lt/vit-nano-p2_bal-bce.py'


def run_tool(*args) -> str:
    """Run a tool (must succeed) and return its whole output."""
    proc = _run_tool(*args)
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Train MORE for two epochs; write the matching plain config."""
    tmp = tmp_path_factory.mktemp('more_e2e')
    data_root = write_toy_dataset(tmp / 'data')
    more_config = tmp / 'toy_more_bal-bce.py'
    more_config.write_text(toy_config(data_root, MORE_BASE))
    plain_config = tmp / 'toy_bal-bce.py'
    plain_config.write_text(toy_config(data_root, PLAIN_BASE))
    work_dir = tmp / 'work'
    run_tool('tools/train.py', more_config, '--work-dir', work_dir)
    return more_config, plain_config, work_dir, run_log(work_dir)


def build_model(config: Path):
    cfg = Config.fromfile(str(config))
    model_cfg = cfg.model.copy()
    model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    return MODELS.build(model_cfg)


def test_training_logs_the_schedule_and_writes_merged(trained):
    _, plain_config, work_dir, log = trained
    assert 'more_alpha' in log and 'loss_more' in log
    assert 'plain checkpoint saved to' in log
    last = torch.load(work_dir / 'epoch_2.pth', weights_only=False)
    assert any(k.endswith('tail_A') for k in last['state_dict'])
    merged = torch.load(work_dir / 'merged.pth', weights_only=False)
    plain = build_model(plain_config)
    assert list(merged['state_dict']) == list(plain.state_dict())
    plain.load_state_dict(merged['state_dict'], strict=True)
    n_merged = sum(v.numel() for k, v in merged['state_dict'].items()
                   if k in dict(plain.named_parameters()))
    assert n_merged == sum(p.numel() for p in plain.parameters())
    assert merged['state_dict']['head.class_counts'].tolist() == \
        [20, 11, 6, 4]


def run_tool_here(tool: str, *args) -> int:
    """Run a tool's ``main`` in this process (saves the start-up time);
    ``tools/`` is on the path, as for ``python tools/<tool>.py``."""
    argv, path = sys.argv, list(sys.path)
    sys.argv = [tool, *map(str, args)]
    sys.path.insert(0, str(TOOLS))
    try:
        runpy.run_path(str(REPO / tool), run_name='__main__')
    except SystemExit as exit_:
        return exit_.code
    finally:
        sys.argv, sys.path[:] = argv, path
    return 0


def test_plain_test_tool_on_merged_equals_more_model(trained, tmp_path,
                                                     capsys):
    more_config, plain_config, work_dir, _ = trained
    preds_file = tmp_path / 'preds.pkl'
    assert run_tool_here('tools/test.py', plain_config,
                         work_dir / 'merged.pth', '--work-dir',
                         tmp_path / 'test', '--out', preds_file) == 0
    out = capsys.readouterr().out
    assert '| model | Top-1 | Mean class | Many | Medium | Few |' in out
    with open(preds_file, 'rb') as f:
        dumped = pickle.load(f)

    # The unmerged MORE model (full path) predicts the same scores.
    inferencer = ImageClassificationInferencer(
        model=str(more_config), pretrained=str(work_dir / 'epoch_2.pth'))
    results = inferencer([d['img_path'] for d in dumped], batch_size=20)
    for dumped_one, result in zip(dumped, results):
        torch.testing.assert_close(
            torch.as_tensor(result['pred_scores']),
            dumped_one['pred_score'].float(),
            rtol=0,
            atol=1e-5)
