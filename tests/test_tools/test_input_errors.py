"""tools/train.py and tools/test.py on bad input: one line, exit code 2,
no traceback; a genuine bug keeps its traceback."""
import pytest
from _tools import REPO, run_tool

BASE = REPO / 'configs/baselines/digits_lt/vit-nano-p2_bal-bce.py'


def write_config(tmp_path, dataset: str) -> str:
    """A config inheriting the Digits-LT baseline with ``dataset`` as every
    loader's dataset."""
    config = tmp_path / 'bad.py'
    config.write_text(f'_base_ = [{str(BASE)!r}]\n'
                      f'_data = {dataset}\n'
                      'train_dataloader = dict(dataset=_data)\n'
                      'val_dataloader = dict(dataset=_data)\n'
                      'test_dataloader = val_dataloader\n')
    return str(config)


def list_dataset(tmp_path, last_line: str = 'imgs/gone.png 3') -> str:
    """A 10-class list ending with ``last_line`` (line 11; by default an
    image that is missing)."""
    (tmp_path / 'imgs').mkdir()
    lines = []
    for label in range(10):
        (tmp_path / f'imgs/{label}.png').touch()
        lines.append(f'imgs/{label}.png {label}\n')
    lines.append(f'{last_line}\n')
    (tmp_path / 'train.txt').write_text(''.join(lines))
    return (f"dict(_delete_=True, type='CustomDataset', "
            f"data_root={str(tmp_path)!r}, ann_file='train.txt', "
            "metainfo=dict(classes=[str(i) for i in range(10)]), "
            "pipeline=[])")


def assert_one_line_error(proc, *parts: str) -> None:
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith('error')]
    assert len(errors) == 1, proc.stderr[-2000:]
    for part in parts:
        assert part in errors[0]


def test_missing_image_before_training(tmp_path):
    config = write_config(tmp_path, list_dataset(tmp_path))
    work_dir = tmp_path / 'work'
    proc = run_tool(
        'tools/train.py', config, '--work-dir', work_dir, check=False)
    assert_one_line_error(proc, 'train_dataloader.dataset: 1 of 11 images',
                          'imgs/gone.png')
    assert not work_dir.exists()  # nothing was built or trained
    checkpoint = tmp_path / 'some.pth'
    checkpoint.touch()
    proc = run_tool(
        'tools/test.py',
        config,
        checkpoint,
        '--work-dir',
        work_dir,
        check=False)
    assert_one_line_error(proc, 'test_dataloader.dataset: 1 of 11 images')


@pytest.mark.parametrize('line, reason', [
    ('c4_0.png four', "the label 'four' is not a whole number"),
    ('c4_0.png', "no label (expected '<path> <label>')"),
])
def test_bad_list_line_names_file_and_line(tmp_path, line, reason):
    config = write_config(tmp_path, list_dataset(tmp_path, line))
    proc = run_tool('tools/train.py', config, '--work-dir', tmp_path / 'w',
                    check=False)
    assert_one_line_error(
        proc, 'train_dataloader.dataset (CustomDataset): '
        f"{tmp_path / 'train.txt'} line 11: {line!r}: {reason}")
    assert proc.stderr.count('\n') == 1  # nothing else on stderr


def test_loop_key_typo_before_training(tmp_path):
    work_dir = tmp_path / 'work'
    proc = run_tool(
        'tools/train.py',
        BASE,
        '--work-dir',
        work_dir,
        '--cfg-options',
        'train_cfg.max_epoch=2',
        check=False)
    assert_one_line_error(
        proc, 'error: train_cfg.max_epoch is not an argument of '
        "EpochBasedTrainLoop (did you mean 'max_epochs'?)")
    assert proc.stderr.count('\n') == 1  # nothing else on stderr
    assert not work_dir.exists()  # nothing was built or trained


def test_genuine_bug_keeps_traceback(tmp_path):
    # an unknown keyword is not a data error: the traceback shows where
    config = write_config(
        tmp_path,
        "dict(_delete_=True, type='SklearnDigits', split='train', bogus=1)")
    proc = run_tool('tools/train.py', config, check=False)
    assert proc.returncode == 1
    assert 'Traceback' in proc.stderr and 'bogus' in proc.stderr
