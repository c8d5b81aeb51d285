"""tools/osdtw_sgd_noise.py: one line and exit 2 for bad input; the file
with the noise otherwise."""
import torch
from _toy_stats import write_toy_task_stats

from tools.osdtw_sgd_noise import main


def test_bad_input_is_one_line(tmp_path, capsys):
    code = main([str(tmp_path / 'missing.pth'), str(tmp_path / 'c.pth'),
                 '--task', 'head', '--out', str(tmp_path / 'o.pth')])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and 'missing.pth' in err[0]


def test_writes_the_noise(tmp_path, capsys):
    files = write_toy_task_stats(tmp_path)
    second = tmp_path / 'tail_seed1.pth'
    torch.save(dict(state_dict={'backbone.w': torch.tensor([2.0, 0.0]),
                                'head.fc.weight': torch.zeros(2)}), second)
    out = tmp_path / 'fisher_tail_sgd.pth'
    assert main([str(files['tail']), str(second), '--task', 'tail', '--out',
                 str(out)]) == 0
    assert 'sgd_noise for 2 tensors (sum 2)' in capsys.readouterr().out
    assert torch.load(out, weights_only=True)['sgd_noise'][
        'backbone.w'].tolist() == [2.0, 0.0]


def test_from_init_writes_the_displacement_bound(tmp_path, capsys):
    import pytest
    files = write_toy_task_stats(tmp_path)  # tail params are 0
    init = tmp_path / 'mgp.pth'
    torch.save(dict(state_dict={'backbone.w': torch.tensor([1.0, 2.0])}),
               init)
    out = tmp_path / 'fisher_tail_disp.pth'
    assert main([str(files['tail']), '--from-init', str(init), '--task',
                 'tail', '--out', str(out)]) == 0
    assert 'sgd_noise for 2 tensors (sum 5)' in capsys.readouterr().out
    assert torch.load(out, weights_only=True)['sgd_noise'][
        'backbone.w'].tolist() == [1.0, 4.0]
    with pytest.raises(SystemExit):  # a seed checkpoint or --from-init
        main([str(files['tail']), str(init), '--from-init', str(init),
              '--task', 'tail', '--out', str(out)])
