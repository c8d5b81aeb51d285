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


def _with_noise(tmp_path):
    """The toy pair with SGD noise 0.5 per task on one body slot each."""
    files = write_toy_task_stats(tmp_path)
    out = {}
    for task, second in (('head', [2.0, 1.0]), ('tail', [0.0, 1.0])):
        ckpt = tmp_path / f'{task}_seed1.pth'
        torch.save(
            dict(state_dict={
                'backbone.w': torch.tensor(second),
                'head.fc.weight': torch.full((2, ), 7.0)
            }), ckpt)
        out[task] = tmp_path / f'fisher_{task}_sgd.pth'
        add_sgd_noise(str(files[task]), task, str(ckpt), str(out[task]))
    return files, out


def test_the_sgd_noise_scale_calibrates_n(tmp_path):
    """Asymptotic noise (1/1 + 1/1) / 10 per body slot, 0.4 in all, against
    an SGD noise of 1.0: N_eff = 10 * 0.4 / 1.0 = 4."""
    from mmpretrain_osdtw.osdtw.search import run_search
    files, noisy = _with_noise(tmp_path)
    calibrated = run_search(str(noisy['head']), str(noisy['tail']),
                            w_step=0.5, noise_scale='sgd')
    assert calibrated['N'] == pytest.approx(4.0)
    assert calibrated['N_data'] == 10 and calibrated['noise_scale'] == 'sgd'
    plain = run_search(str(noisy['head']), str(noisy['tail']), w_step=0.5)
    assert plain['N'] == 10 and plain['noise_scale'] == 'asymptotic'
    # the calibrated grid is the plain files' grid at N = 4
    from mmpretrain_osdtw.osdtw.proxy import proxy_grid
    inputs = load_stats(str(files['head']), str(files['tail']))
    at_4 = proxy_grid(inputs.for_variant('full'), 1, 4.0,
                      w_grid=[0.0, 0.5, 1.0])
    assert torch.allclose(
        torch.tensor(calibrated['grid']['proxy'], dtype=torch.float64),
        at_4.proxy)
    with pytest.raises(ValueError, match='has no sgd_noise'):
        run_search(str(files['head']), str(files['tail']),
                   noise_scale='sgd')
    with pytest.raises(ValueError, match='noise_scale must be one of'):
        run_search(str(files['head']), str(files['tail']),
                   noise_scale='empirical')


def test_the_displacement_bound_is_the_squared_move_from_the_init(tmp_path):
    """One run's (theta - theta_0)^2 on the backbone tensors the MGP
    checkpoint has; 0 on the others (the task head); the search calibrates
    N on it like on a second seed's noise."""
    from mmpretrain_osdtw.osdtw.search import run_search
    from mmpretrain_osdtw.osdtw.sgd_noise import (add_displacement_noise,
                                                  displacement_noise)
    noise = displacement_noise(
        dict(**{'backbone.w': torch.tensor([1.0, 3.0]),
                'head.fc.weight': torch.ones(2)}),
        {'backbone.w': torch.tensor([0.0, 1.0]),
         'head.fc.weight': torch.zeros(2)})  # MAE's own head: not used
    assert torch.equal(noise['backbone.w'], torch.tensor([1.0, 4.0]))
    assert torch.equal(noise['head.fc.weight'], torch.zeros(2))
    with pytest.raises(ValueError, match="mgp.pth: 'backbone.w' has shape"):
        displacement_noise({'backbone.w': torch.zeros(2)},
                           {'backbone.w': torch.zeros(3)}, 'mgp.pth')
    with pytest.raises(ValueError, match='holds none of the backbone'):
        displacement_noise({'backbone.w': torch.zeros(2)},
                           {'neck.x': torch.zeros(2)}, 'mgp.pth')
    files = write_toy_task_stats(tmp_path)  # head params 1, tail params 0
    init = tmp_path / 'mgp.pth'
    torch.save(dict(state_dict={'backbone.w': torch.tensor([0.0, 0.5])}),
               init)
    out = {}
    for task in ('head', 'tail'):
        out[task] = tmp_path / f'fisher_{task}_disp.pth'
        add_displacement_noise(str(files[task]), task, str(init),
                               str(out[task]))
    written = load_task_stats(str(out['head']), 'head')
    assert torch.equal(written['sgd_noise']['backbone.w'],
                       torch.tensor([1.0, 0.25]))
    assert written['meta']['sgd_noise_from'] == dict(
        displacement_from=str(init))
    # asymptotic body noise 0.4 (see above) against 1 + 0.25 + 0 + 0.25
    result = run_search(str(out['head']), str(out['tail']), w_step=0.5,
                        noise_scale='sgd')
    assert result['N'] == pytest.approx(10 * 0.4 / 1.5)
