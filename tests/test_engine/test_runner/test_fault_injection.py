"""Fault-injection catalogue: damage one artifact of a finished pipeline
work dir (the shared ``finished_pipeline`` run, copied), rerun, and check
that the damaged step ran again first, a later step only when what it
reads changed, and the report is the same (docs/en/faults.md)."""
import json
import re
import shutil

import pytest
from test_stage_runner import run_pipeline

STEPS = ('stage1_head', 'stage1_tail', 'fisher_cross', 'search', 'stage2',
         'assemble', 'refine', 'test')


def report_without_timings(work_dir):
    report = json.loads((work_dir / 'test' / 'report.json').read_text())
    report.pop('timings')
    return report


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def corrupt(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def final_checkpoint(work_dir, step):
    done = json.loads((work_dir / step / 'done.json').read_text())
    return work_dir / done['artifacts']['checkpoint']


CASES = {
    'epoch checkpoint truncated':
    (lambda w: truncate(final_checkpoint(w, 'stage2')), 'stage2'),
    'statistics file truncated':
    (lambda w: truncate(w / 'stage1_tail' / 'fisher_tail.pth'), 'stage1_tail'),
    'search.json corrupted':
    (lambda w: corrupt(w / 'search' / 'search.json'), 'search'),
    'assembled checkpoint deleted':
    (lambda w: (w / 'assemble' / 'assembled.pth').unlink(), 'assemble'),
    'done.json truncated': (lambda w: truncate(w / 'stage2' / 'done.json'),
                            'stage2'),
    'report truncated': (lambda w: truncate(w / 'test' / 'report.json'),
                         'test'),
}


@pytest.mark.parametrize('case', list(CASES))
def test_a_damaged_artifact_is_repaired(finished_pipeline, tmp_path, case):
    config, source = finished_pipeline[:2]
    damage, first_rerun = CASES[case]
    work_dir = tmp_path / 'work'
    shutil.copytree(source, work_dir)
    damage(work_dir)
    code, log = run_pipeline(config, work_dir, tmp_path / 'rerun.log')
    assert code == 0, log[-5000:]
    reran = re.findall(r'\[OSDTW\] (\w+): running', log)
    assert reran[0] == first_rerun, reran
    assert set(reran) <= set(STEPS[STEPS.index(first_rerun):]), reran
    if first_rerun == 'search':  # same C and w_A: nothing retrains
        assert reran == ['search'], reran
    assert report_without_timings(work_dir) == report_without_timings(source)
    # the damaged file is named once in the log, with the reason
    assert re.search(rf'\[OSDTW\] {first_rerun}: .*{work_dir}/'
                     r'\S+ is (truncated|changed|missing|unreadable)', log)
