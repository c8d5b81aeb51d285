"""The SGD noise of a stage-1 task from a second seed: 0.5 (a - b)^2 per
slot, written into a copy of the statistics file that the proxy reads."""
import pytest
import torch
from _toy_stats import write_toy_task_stats

from mmpretrain_osdtw.osdtw import load_stats, load_task_stats
from mmpretrain_osdtw.osdtw.sgd_noise import add_sgd_noise, sgd_noise_between


def test_half_the_squared_difference_per_slot():
    noise = sgd_noise_between(
        dict(w=torch.tensor([1.0, 2.0])),
        dict(w=torch.tensor([0.0, 2.0]), buffer=torch.zeros(3)))
    assert torch.equal(noise['w'], torch.tensor([0.5, 0.0]))


def test_a_missing_or_reshaped_tensor_is_named():
    params = dict(w=torch.zeros(2))
    with pytest.raises(ValueError, match="run.pth has no tensor 'w'"):
        sgd_noise_between(params, dict(v=torch.zeros(2)), 'run.pth')
    with pytest.raises(ValueError, match=r"run.pth: 'w' has shape \(3,\)"):
        sgd_noise_between(params, dict(w=torch.zeros(3)), 'run.pth')


def test_the_written_file_carries_the_noise_to_the_proxy(tmp_path):
    files = write_toy_task_stats(tmp_path)
    second = tmp_path / 'head_seed1.pth'
    torch.save(
        dict(
            meta=dict(seed=1),
            state_dict={
                'backbone.w': torch.tensor([1.0, 3.0]),
                'head.fc.weight': torch.full((2, ), 1.0)
            }), second)
    out = tmp_path / 'fisher_head_sgd.pth'
    add_sgd_noise(str(files['head']), 'head', str(second), str(out))
    written = load_task_stats(str(out), 'head')
    assert torch.equal(written['sgd_noise']['backbone.w'],
                       torch.tensor([0.0, 2.0]))
    assert written['meta']['sgd_noise_from']['seed'] == 1
    paired = {
        s.name: s
        for s in load_stats(str(out), str(files['tail'])).stats
    }
    assert torch.equal(paired['backbone.w'].sgd_noise,
                       torch.tensor([0.0, 2.0]))


def test_the_same_run_twice_is_refused(tmp_path):
    files = write_toy_task_stats(tmp_path)
    same = tmp_path / 'same.pth'
    torch.save(
        dict(state_dict={n: torch.ones(2)
                         for n in ('backbone.w', 'head.fc.weight')}), same)
    with pytest.raises(ValueError, match='holds the same parameters'):
        add_sgd_noise(str(files['head']), 'head', str(same),
                      str(tmp_path / 'out.pth'))
