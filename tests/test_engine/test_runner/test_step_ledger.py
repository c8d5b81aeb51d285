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
    """Each step's key: its setting and the digest of the step before's
    output (what it reads), as the pipeline's steps build theirs."""
    keys = keys or {}
    done = []
    for i, s in enumerate(STEPS):
        key = dict(keys.get(s, dict(k=s)))
        if i:
            key['input'] = ledger.digest(STEPS[i - 1], 'out')
        done.append(ledger.run_step(s, key, work_writing(ledger, s, calls)))
    return done


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
    assert json.loads((tmp_path / 'second' / DONE_FILE).read_text()
                      )['key']['input'] == raw['files']['out']['sha256']
    assert set(ledger.timings()) == set(STEPS)
    assert ledger.artifact('second',
                           'out') == str(tmp_path / 'second' / 'out.txt')


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


def test_a_changed_key_or_missing_artifact_reruns_it(tmp_path):
    """A rerun step's dependants rerun only when what they read changed."""
    calls, lines = [], []
    run_all(StepLedger(str(tmp_path), STEPS), calls)
    calls.clear()
    run_all(logging_ledger(tmp_path, lines), calls, dict(second=dict(k=2)))
    assert calls == ['second']  # same output: third is kept
    assert 'second: k changed; the step runs again' in lines
    (tmp_path / 'first' / 'out.txt').unlink()
    calls.clear()
    run_all(StepLedger(str(tmp_path), STEPS), calls, dict(second=dict(k=2)))
    assert calls == ['first']
    calls.clear()
    (tmp_path / 'first' / 'out.txt').write_text('other')  # changed output
    run_all(StepLedger(str(tmp_path), STEPS), calls, dict(second=dict(k=2)))
    assert calls == ['first']  # rewritten as 'first': the rest is kept
    ledger = StepLedger(str(tmp_path), STEPS)

    def other_output():
        path = tmp_path / 'first' / 'out.txt'
        path.write_text('new content')
        return dict(artifacts=dict(out=str(path)))

    ledger.run_step('first', dict(k=5), other_output)
    calls.clear()
    run_all(ledger, calls, dict(first=dict(k=5), second=dict(k=2)))
    # second read new content (it reruns) but wrote what it wrote before
    assert calls == ['second']


def test_a_deleted_step_folder_is_named(tmp_path):
    import shutil
    run_all(StepLedger(str(tmp_path), STEPS), [])
    shutil.rmtree(tmp_path / 'first')
    calls, lines = [], []
    run_all(logging_ledger(tmp_path, lines), calls)
    assert calls == ['first']
    assert f'first: its folder {tmp_path / "first"} is missing; the step ' \
        'runs again' in lines


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


def logging_ledger(root, lines):
    return StepLedger(str(root), STEPS, lines.append)


def test_done_json_records_size_and_sha256(tmp_path):
    import hashlib
    run_all(StepLedger(str(tmp_path), STEPS), [])
    raw = json.loads((tmp_path / 'first' / DONE_FILE).read_text())
    assert raw['files']['out'] == dict(
        size=5, sha256=hashlib.sha256(b'first').hexdigest())


@pytest.mark.parametrize('damage, reason', [
    (lambda p: p.write_text('sec'), 'is truncated (3 bytes, 6 recorded)'),
    (lambda p: p.write_text('SECOND'), 'is changed (its SHA-256 differs'),
    (lambda p: p.unlink(), 'is missing'),
])
def test_a_damaged_artifact_reruns_its_step(tmp_path, damage, reason):
    run_all(StepLedger(str(tmp_path), STEPS), [])
    damage(tmp_path / 'second' / 'out.txt')
    calls, lines = [], []
    run_all(logging_ledger(tmp_path, lines), calls)
    assert calls == ['second']  # rewritten as before: third is kept
    named = [line for line in lines if 'runs again' in line]
    assert len(named) == 1
    assert f'artifact {tmp_path / "second" / "out.txt"} {reason}' in named[0]
    assert (tmp_path / 'second' / 'out.txt').read_text() == 'second'


@pytest.mark.parametrize('content', ['{"step": "sec', '[1, 2]', '\xff\xfe'])
def test_an_unreadable_done_json_means_not_done(tmp_path, content):
    run_all(StepLedger(str(tmp_path), STEPS), [])
    (tmp_path / 'second' / DONE_FILE).write_bytes(content.encode('latin-1'))
    calls, lines = [], []
    ledger = logging_ledger(tmp_path, lines)
    assert ledger.read('second') is None
    run_all(ledger, calls)
    assert calls == ['second']
    assert sum(f'{tmp_path / "second" / DONE_FILE} is unreadable' in line
               for line in lines) == 1
    assert ledger.read('second')['step'] == 'second'


def test_a_step_failing_before_writing_a_file_leaves_no_folder(tmp_path):
    ledger = StepLedger(str(tmp_path), STEPS)

    def fail():
        raise RuntimeError('no')

    with pytest.raises(RuntimeError):
        ledger.run_step('first', {}, fail)
    assert not (tmp_path / 'first').exists()

    def write_then_fail():
        (tmp_path / 'first' / 'epoch_1.pth').write_text('x')
        raise RuntimeError('no')

    with pytest.raises(RuntimeError):
        ledger.run_step('first', {}, write_then_fail)
    assert (tmp_path / 'first' / 'epoch_1.pth').is_file()  # resumable


def test_may_resume_only_with_the_same_inputs(tmp_path):
    """Partial outputs of a step count only when its key (its settings and
    the digests of what it reads) is the one it started with."""
    seen = {}

    def run(ledger, keys=None):
        for i, s in enumerate(STEPS):
            key = dict((keys or {}).get(s, dict(k=s)))
            if i:
                key['input'] = ledger.digest(STEPS[i - 1], 'out')

            def noting(s=s, key=key):
                seen[s] = ledger.may_resume(s)
                path = f'{ledger.step_dir(s)}/out.txt'
                with open(path, 'w') as f:
                    f.write(str(key))
                return dict(artifacts=dict(out=path))

            ledger.run_step(s, key, noting)

    run(StepLedger(str(tmp_path), STEPS))
    assert seen == dict(first=True, second=True, third=True)  # new folders
    seen.clear()
    (tmp_path / 'third' / DONE_FILE).unlink()  # interrupted: same inputs
    run(StepLedger(str(tmp_path), STEPS))
    assert seen == {'third': True}
    seen.clear()
    (tmp_path / 'first' / 'out.txt').unlink()  # remade the same way
    run(StepLedger(str(tmp_path), STEPS))
    assert seen == dict(first=True)
    seen.clear()
    run(StepLedger(str(tmp_path), STEPS), dict(first=dict(k=9)))
    assert seen == dict(first=False, second=False, third=False)
    seen.clear()
    keys = dict(first=dict(k=9), third=dict(k=8))
    run(StepLedger(str(tmp_path), STEPS), keys)
    assert seen == dict(third=False)


def test_a_resume_key_names_every_dependency(tmp_path):
    """With ``resume_key`` the earlier steps' files do not count."""
    seen = {}

    def run(first_text, second_key):
        ledger = StepLedger(str(tmp_path), STEPS)

        def first():
            (tmp_path / 'first' / 'out.txt').write_text(first_text)
            return dict(artifacts=dict(out=str(tmp_path / 'first/out.txt')))

        def second():
            seen['second'] = ledger.may_resume('second')
            return work_writing(ledger, 'second', [])()

        ledger.run_step('first', dict(k=first_text), first)
        ledger.run_step('second', second_key, second,
                        resume_key=dict(k='second'))

    run('a', dict(k='second'))
    (tmp_path / 'second' / DONE_FILE).unlink()
    run('b', dict(k='second', extra=1))
    assert seen == dict(second=True)


def test_each_step_records_its_own_peak_memory(tmp_path):
    """A step that holds 200 MiB records a peak that a later, small step
    does not inherit (the high-water mark is reset per step on Linux)."""
    from _memory import resident_block

    from mmpretrain_osdtw.utils.peak_memory import reset_peak_memory
    ledger = StepLedger(str(tmp_path), ('big', 'small'))

    def big():
        resident_block(200).close()
        path = f'{ledger.step_dir("big")}/out.txt'
        open(path, 'w').close()
        return dict(artifacts=dict(out=path))

    big_rss = ledger.run_step('big', {}, big)['peak_memory_mb']['rss']
    small = work_writing(ledger, 'small', [])
    small_rss = ledger.run_step('small', {}, small)['peak_memory_mb']['rss']
    raw = json.loads((tmp_path / 'big' / DONE_FILE).read_text())
    assert raw['peak_memory_mb']['rss'] == big_rss
    if reset_peak_memory():
        assert small_rss < big_rss - 150


class FakeClock:
    """``time.monotonic`` stand-in: the test sets the time."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_step_time_is_the_sum_of_its_runs(tmp_path, monkeypatch):
    """Interrupted after 10 s, failed after 4 s, finished in 5 s: the step
    took 19 s; started.json kept the unfinished runs until then."""
    from mmpretrain_osdtw.engine.runner import step_ledger
    from mmpretrain_osdtw.utils import Interrupted
    clock = FakeClock()
    monkeypatch.setattr(step_ledger.time, 'monotonic', clock)
    path = tmp_path / 'first' / 'out.txt'

    def interrupted():
        path.write_text('partial')
        clock.now += 10
        raise KeyboardInterrupt

    def failing():
        clock.now += 4
        raise RuntimeError('no')

    def finishing():
        clock.now += 5
        path.write_text('whole')
        return dict(artifacts=dict(out=str(path)))

    with pytest.raises(Interrupted) as err:
        StepLedger(str(tmp_path), STEPS).run_step('first', {}, interrupted)
    assert err.value.describe().startswith('interrupted in first;')
    started = tmp_path / 'first' / 'started.json'
    assert json.loads(started.read_text())['segments'] == [10.0]
    with pytest.raises(RuntimeError):
        StepLedger(str(tmp_path), STEPS).run_step('first', {}, failing)
    assert json.loads(started.read_text())['segments'] == [10.0, 4.0]
    lines = []
    ledger = StepLedger(str(tmp_path), STEPS, lines.append)
    done = ledger.run_step('first', {}, finishing)
    assert done['seconds'] == 19.0 and ledger.timings() == {'first': 19.0}
    assert json.loads(started.read_text())['segments'] == []
    assert lines == [
        'first: running (step 1 of 3)',
        'first: done in 19 s, over 3 runs (step 1 of 3)'
    ]
    # a rerun of the finished step (its artifact changed) counts anew
    path.write_text('changed')
    done = StepLedger(str(tmp_path), STEPS).run_step('first', {}, finishing)
    assert done['seconds'] == 5.0


def test_other_inputs_drop_the_earlier_runs_time(tmp_path, monkeypatch):
    from mmpretrain_osdtw.engine.runner import step_ledger
    clock = FakeClock()
    monkeypatch.setattr(step_ledger.time, 'monotonic', clock)

    def interrupted():
        (tmp_path / 'first' / 'epoch_1.pth').write_text('x')
        clock.now += 10
        raise KeyboardInterrupt

    def finishing():
        clock.now += 5
        return work_writing(ledger, 'first', [])()

    with pytest.raises(KeyboardInterrupt):
        StepLedger(str(tmp_path), STEPS).run_step('first', dict(k=1),
                                                  interrupted)
    ledger = StepLedger(str(tmp_path), STEPS)
    done = ledger.run_step('first', dict(k=2), finishing)
    assert not ledger.may_resume('first') and done['seconds'] == 5.0


def test_an_old_started_json_holds_the_inputs_only(tmp_path):
    """started.json of an older version (the inputs, no segments)."""
    ledger = StepLedger(str(tmp_path), STEPS)
    (tmp_path / 'first').mkdir()
    inputs = dict(key={})
    (tmp_path / 'first' / 'started.json').write_text(json.dumps(inputs))
    assert ledger.earlier_segments('first', inputs) == []
    assert ledger.may_resume('first')


def test_format_seconds():
    from mmpretrain_osdtw.engine.runner.step_ledger import format_seconds
    assert [format_seconds(s) for s in (0.42, 41.4, 185, 7620)] == [
        '0.4 s', '41 s', '3 min 05 s', '2 h 07 min'
    ]
