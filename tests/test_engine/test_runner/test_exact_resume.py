"""Exact resume end to end: the tiny pipeline interrupted (SIGINT and
SIGTERM) in the middle of stage-1 training, after stage-1 training with
its statistics written (the step not done), and in the middle of the
refinement (after stage 2), rerun after each interruption, ends with the
``search.json`` and ``report.json`` of the uninterrupted run; each
interruption ends with one line on stderr and exit code 130."""
import json
import re

import pytest
from _pipeline_runs import results, run

RERUN = 'rerun the same command to resume'
#: (OSDTW_TEST_INTERRUPT, the line on stderr)
INTERRUPTS = (
    ('stage1_head:2:1:SIGINT',
     f'interrupted in stage1_head, epoch 2; {RERUN}'),
    ('stage1_tail:end:SIGTERM', f'interrupted in stage1_tail; {RERUN}'),
    ('refine:2:1:SIGINT', f'interrupted in refine, epoch 2; {RERUN}'),
)


@pytest.fixture(scope='module')
def interrupted(finished_pipeline, tmp_path_factory):
    """The pipeline of ``finished_pipeline`` in a fresh work dir, run with
    each interruption of :data:`INTERRUPTS` in turn, then to the end."""
    config = finished_pipeline[0]
    tmp = tmp_path_factory.mktemp('interrupted')
    work_dir = tmp / 'work'
    runs, segments = [], {}
    for i, (point, _) in enumerate(INTERRUPTS):
        runs.append(run(config, work_dir, tmp / f'run{i}', point))
        step = point.split(':')[0]
        started = json.loads((work_dir / step / 'started.json').read_text())
        segments[step] = started['segments']
        if step == 'stage1_tail':
            # the statistics were written, the step is not done
            assert (work_dir / step / 'fisher_tail.pth').is_file()
            assert not (work_dir / step / 'done.json').exists()
    last = run(config, work_dir, tmp / 'last')
    return work_dir, runs, last, segments


def test_each_interrupt_is_one_line_and_exit_130(interrupted):
    runs = interrupted[1]
    for (point, line), result in zip(INTERRUPTS, runs):
        assert result.code == 130, (point, result.err[-3000:])
        assert result.err.splitlines() == [line], (point, result.err)


def test_the_interrupted_run_ends_as_the_uninterrupted_one(
        finished_pipeline, interrupted):
    work_dir, _, last, _ = interrupted
    assert last.code == 0, (last.out + last.err)[-5000:]
    # the reruns resumed (stage 1 and the refinement from their epoch-1
    # checkpoints) and each step's time counts both of its runs
    assert re.search(r'stage1_head: done in .*, over 2 runs',
                     interrupted[1][1].out)
    assert re.search(r'refine: done in .*, over 2 runs', last.out)
    for step in ('stage1_head', 'refine'):
        logs = [p.read_text() for p in (work_dir / step).glob('*/*.log')]
        assert any('resumed epoch: 1' in log for log in logs), step
    search, report = results(work_dir)
    expected_search, expected_report = results(finished_pipeline[1])
    assert search == expected_search
    assert report == expected_report


def test_a_step_time_sums_its_runs(interrupted):
    """Each interrupted step recorded the time of its interrupted run in
    started.json; its done.json time adds the resumed run's to it (the
    report shows that sum), and started.json's list is emptied."""
    work_dir, segments = interrupted[0], interrupted[3]
    assert 'stage1_head: done in' in interrupted[1][1].out
    report = json.loads((work_dir / 'test' / 'report.json').read_text())
    for step in ('stage1_head', 'stage1_tail', 'refine'):
        assert len(segments[step]) == 1 and segments[step][0] > 0, step
        done = json.loads((work_dir / step / 'done.json').read_text())
        assert done['seconds'] > segments[step][0], step
        started = json.loads((work_dir / step / 'started.json').read_text())
        assert started['segments'] == [], step
        assert report['timings'][step] == pytest.approx(
            done['seconds'], abs=0.05)
