"""The merged checkpoint: state-dict folding, file format, tools/more_merge."""
import importlib.util
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.models.more import (merge_checkpoint_file,
                                          merge_state_dict,
                                          save_merged_checkpoint)

REPO = Path(__file__).resolve().parents[3]
MORE_CONFIG = REPO / 'configs/more/digits_lt/vit-nano-p2_more_la-ce.py'
PLAIN_CONFIG = REPO / 'configs/baselines/digits_lt/vit-nano-p2_la-ce.py'


def load_tool():
    """``tools/more_merge.py`` as a module, with ``tools/`` importable
    (its ``tool_cli``), as when it runs as a script."""
    if str(REPO / 'tools') not in sys.path:
        sys.path.insert(0, str(REPO / 'tools'))
    spec = importlib.util.spec_from_file_location('more_merge_tool',
                                                  REPO / 'tools/more_merge.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def toy_state():
    gen = torch.Generator().manual_seed(0)
    return OrderedDict([
        ('fc.weight', torch.randn(4, 6, generator=gen)),
        ('fc.bias', torch.randn(4, generator=gen)),
        ('fc.tail_A', torch.randn(2, 6, generator=gen)),
        ('fc.tail_B', torch.randn(4, 2, generator=gen)),
        ('out.weight', torch.randn(3, 4, generator=gen)),
    ])


def test_merge_state_dict_folds_and_drops_the_tail():
    state = toy_state()
    merged, layers = merge_state_dict(state)
    assert layers == ['fc']
    assert list(merged) == ['fc.weight', 'fc.bias', 'out.weight']
    torch.testing.assert_close(
        merged['fc.weight'],
        state['fc.weight'] + state['fc.tail_B'] @ state['fc.tail_A'])
    assert merged['out.weight'] is state['out.weight']


@pytest.mark.parametrize('drop, match', [
    ('fc.tail_B', r"'fc\.tail_A' has no matching 'fc\.tail_B'"),
    ('fc.weight', r"no general weight 'fc\.weight'"),
])
def test_incomplete_layers_are_named(drop, match):
    state = toy_state()
    del state[drop]
    with pytest.raises(KeyError, match=match):
        merge_state_dict(state)


def test_mismatched_shapes_are_named():
    state = toy_state()
    state['fc.tail_A'] = torch.zeros(2, 5)
    with pytest.raises(ValueError, match=r"layer 'fc': tail_B \(4, 2\)"):
        merge_state_dict(state)


def test_saved_file_format_and_no_leftovers(tmp_path):
    path = tmp_path / 'sub' / 'merged.pth'
    layers = save_merged_checkpoint(
        toy_state(), str(path), meta=dict(epoch=3), source='x.pth')
    assert layers == ['fc']
    assert sorted(p.name for p in path.parent.iterdir()) == ['merged.pth']
    ckpt = torch.load(path, weights_only=False)
    assert set(ckpt) == {'meta', 'state_dict'}
    assert ckpt['meta']['epoch'] == 3
    assert ckpt['meta']['more_merge'] == dict(
        merged_layers=['fc'], source='x.pth')
    assert list(ckpt['state_dict']) == ['fc.weight', 'fc.bias', 'out.weight']


def test_merge_checkpoint_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        merge_checkpoint_file(str(tmp_path / 'nope.pth'), 'out.pth')
    plain = tmp_path / 'plain.pth'
    torch.save(dict(state_dict={'fc.weight': torch.zeros(2, 2)}), plain)
    with pytest.raises(ValueError, match='has no MORE layer'):
        merge_checkpoint_file(str(plain), str(tmp_path / 'out.pth'))


@pytest.fixture(scope='module')
def more_checkpoint(tmp_path_factory):
    cfg = Config.fromfile(str(MORE_CONFIG))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith('tail_B'):
                param.normal_(0, 0.1)
    path = tmp_path_factory.mktemp('ckpt') / 'epoch_1.pth'
    torch.save(dict(meta=dict(epoch=1), state_dict=model.state_dict()), path)
    return model, path


def test_tool_merges_and_checks_against_the_plain_config(
        more_checkpoint, tmp_path, capsys):
    model, path = more_checkpoint
    out = tmp_path / 'merged.pth'
    tool = load_tool()
    assert tool.main([str(path), str(out), '--config', str(PLAIN_CONFIG)]) == 0
    printed = capsys.readouterr().out
    assert 'merged 16 layers' in printed
    assert 'loads strictly' in printed
    merged = torch.load(out, weights_only=False)['state_dict']
    expected, _ = merge_state_dict(model.state_dict())
    assert list(merged) == list(expected)
    for key in expected:
        torch.testing.assert_close(merged[key], expected[key])


def test_tool_rejects_a_more_config_and_missing_files(more_checkpoint,
                                                      tmp_path, capsys):
    _, path = more_checkpoint
    tool = load_tool()
    out = str(tmp_path / 'm.pth')
    assert tool.main([str(path), out, '--config', str(MORE_CONFIG)]) == 2
    assert 'builds a MOREClassifier' in capsys.readouterr().err
    assert tool.main([str(tmp_path / 'none.pth'), out]) == 2
    assert "checkpoint '" in capsys.readouterr().err
