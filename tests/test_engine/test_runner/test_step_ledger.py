"""Tests of StepLedger: done.json, relative paths, skips and reruns."""
import json

import pytest

from mmpretrain_osdtw.engine.runner.step_ledger import DONE_FILE, StepLedger

STEPS = ('first', 'second', 'third')


def work_writing(ledger, step, calls, name='out.txt'):

    def work():
        calls.append(step)
        path = f'{ledger.step_dir(step)}/{name}'
        with open(path, 'w') as f:
            f.write(step)
        return dict(artifacts=dict(out=path), note=step)

    return work


def run_all(ledger, calls, keys=None):
    keys = keys or {}
    return [
        ledger.run_step(s, keys.get(s, dict(k=s)),
                        work_writing(ledger, s, calls)) for s in STEPS
    ]


def test_done_json_holds_relative_paths_and_info(tmp_path):
    ledger = StepLedger(str(tmp_path), STEPS)
    calls = []
    done = run_all(ledger, calls)
    assert calls == list(STEPS)
    assert done[0]['artifacts']['out'] == str(tmp_path / 'first' / 'out.txt')
    raw = json.loads((tmp_path / 'first' / DONE_FILE).read_text())
    assert raw['artifacts'] == {'out': 'first/out.txt'}
    assert raw['step'] == 'first' and raw['note'] == 'first'
    assert raw['key'] == {'k': 'first'}
    assert set(ledger.timings()) == set(STEPS)
    assert ledger.artifact('second', 'out') == str(tmp_path / 'second' /
                                                   'out.txt')


def test_finished_steps_are_skipped_also_in_a_moved_copy(tmp_path):
    import shutil
    calls = []
    run_all(StepLedger(str(tmp_path / 'a'), STEPS), calls)
    shutil.copytree(tmp_path / 'a', tmp_path / 'b')
    calls.clear()
    ledger = StepLedger(str(tmp_path / 'b'), STEPS)
    done = run_all(ledger, calls)
    assert calls == []
    assert done[2]['artifacts']['out'] == str(tmp_path / 'b' / 'third' /
                                              'out.txt')


def test_a_changed_key_or_missing_artifact_reruns_it_and_later_steps(
        tmp_path):
    calls = []
    run_all(StepLedger(str(tmp_path), STEPS), calls)
    calls.clear()
    run_all(StepLedger(str(tmp_path), STEPS), calls, dict(second=dict(k=2)))
    assert calls == ['second', 'third']
    (tmp_path / 'first' / 'out.txt').unlink()
    calls.clear()
    run_all(StepLedger(str(tmp_path), STEPS), calls, dict(second=dict(k=2)))
    assert calls == list(STEPS)


def test_old_absolute_paths_are_read(tmp_path):
    """Work dirs of older runs may hold absolute paths."""
    ledger = StepLedger(str(tmp_path), STEPS)
    (tmp_path / 'first').mkdir()
    out = tmp_path / 'first' / 'out.txt'
    out.write_text('x')
    (tmp_path / 'first' / DONE_FILE).write_text(
        json.dumps(
            dict(
                key=dict(ckpt=str(out)),
                artifacts=dict(out=str(out), old='/abs/epoch_3.pth'),
                seconds=1.0)))
    done = ledger.read('first')
    assert done['key'] == {'ckpt': 'first/out.txt'}
    assert done['artifacts']['old'] == '/abs/epoch_3.pth'
    assert ledger.is_done('first', dict(ckpt=str(out))) is False  # old gone
    assert ledger.read('second') is None
    with pytest.raises(FileNotFoundError, match='has not finished'):
        ledger.artifact('second', 'out')
