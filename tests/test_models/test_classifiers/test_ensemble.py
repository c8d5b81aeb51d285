"""ScoreEnsemble: the members' scores averaged, one checkpoint for all of
them, and tools/test.py on it (synthetic weights, the toy image set)."""
import json

import pytest
import torch
from _tools import REPO, run_tool
from _toy_images import toy_config, write_toy_dataset
from mmengine.config import Config
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.models.classifiers import (ScoreEnsemble,
                                                 ensemble_checkpoint,
                                                 ensemble_state_dict)

BASE = REPO / 'configs/baselines/digits_lt/vit-nano-p2_la-ce.py'


def member_cfg() -> dict:
    cfg = Config.fromfile(str(BASE))
    model = cfg.model.to_dict()
    model['head']['num_classes'] = 4
    # a config keeps it at the top level (the runner hands it to the model)
    model['data_preprocessor'] = dict(cfg.data_preprocessor.to_dict(),
                                      num_classes=4)
    return model


def built_members(seeds):
    out = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = MODELS.build(member_cfg())
        model.init_weights()
        # a trained head: trunc-normal 2e-5 would score every class alike
        torch.nn.init.normal_(model.head.layers.head.weight, std=0.5)
        model.eval()
        out.append(model)
    return out


def test_predict_averages_the_members_scores():
    members = built_members([0, 1])
    ensemble = ScoreEnsemble([member_cfg(), member_cfg()])
    ensemble.load_state_dict(
        ensemble_state_dict([m.state_dict() for m in members]))
    ensemble.eval()
    inputs = torch.randn(3, 3, 8, 8)
    samples = [DataSample().set_gt_label(i) for i in range(3)]
    with torch.no_grad():
        out = ensemble(inputs, samples, mode='predict')
        single = [m(inputs, mode='predict') for m in members]
    expected = torch.stack([
        torch.stack([s.pred_score for s in preds]) for preds in single
    ]).mean(0)
    got = torch.stack([s.pred_score for s in out])
    torch.testing.assert_close(got, expected)
    assert [int(s.pred_label) for s in out] == expected.argmax(1).tolist()
    assert all(int(s.gt_label) == i for i, s in enumerate(out))
    # 'tensor': each member's output, for cost measurement
    assert len(ensemble(inputs, mode='tensor')) == 2


def test_bad_ensembles_are_one_line_errors():
    with pytest.raises(ValueError, match='two or more'):
        ScoreEnsemble([member_cfg()])
    other = member_cfg()
    other['data_preprocessor']['mean'] = [0, 0, 0]
    with pytest.raises(ValueError, match=r'members\[1\].data_preprocessor'):
        ScoreEnsemble([member_cfg(), other])
    ensemble = ScoreEnsemble([member_cfg(), member_cfg()])
    with pytest.raises(RuntimeError, match='for inference'):
        ensemble(torch.randn(1, 3, 8, 8), [DataSample()], mode='loss')
    with pytest.raises(ValueError, match='two or more checkpoints'):
        ensemble_checkpoint(['a.pth'], 'out.pth')


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    """The toy image set, a 4-class LA-CE config on it and two members'
    checkpoints (synthetic weights, seeds 0 and 1)."""
    tmp = tmp_path_factory.mktemp('ensemble')
    config = tmp / 'toy_la-ce.py'
    config.write_text(toy_config(write_toy_dataset(tmp / 'data'), BASE))
    ckpts = []
    for seed, model in zip((0, 1), built_members([0, 1])):
        path = tmp / f'seed{seed}.pth'
        torch.save(dict(state_dict=model.state_dict(), meta={}), path)
        ckpts.append(path)
    ens_config = tmp / 'toy_la-ce_ensemble.py'
    ens_config.write_text(
        f"_base_ = [{str(config)!r}]\n"
        "model = dict(_delete_=True, type='ScoreEnsemble',\n"
        "             members=[{{_base_.model}}, {{_base_.model}}])\n")
    return tmp, config, ens_config, ckpts


def test_test_tool_runs_the_joined_checkpoint(toy):
    tmp, config, ens_config, ckpts = toy
    joined = tmp / 'twice_seed0.pth'
    run_tool('tools/ensemble_checkpoints.py', ckpts[0], ckpts[0], '--out',
             joined)
    metrics = {}
    for name, cfg, ckpt in (('single', config, ckpts[0]),
                            ('ensemble', ens_config, joined)):
        out = tmp / f'{name}_metrics.json'
        run_tool('tools/test.py', cfg, ckpt, '--work-dir', tmp / name,
                 '--out', out, '--out-item', 'metrics')
        metrics[name] = json.loads(out.read_text())
    # two copies of one model: the same scores, the same metrics
    assert metrics['ensemble']['lt/top1'] == metrics['single']['lt/top1']
    assert metrics['ensemble']['lt/per_class_acc'] == \
        metrics['single']['lt/per_class_acc']


def test_the_join_tool_names_a_missing_checkpoint(toy):
    tmp, _, _, ckpts = toy
    proc = run_tool('tools/ensemble_checkpoints.py', ckpts[0],
                    tmp / 'nope.pth', '--out', tmp / 'x.pth', check=False)
    assert proc.returncode == 2
    assert "nope.pth' does not exist" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
