"""Tests of the pipeline report writer (report.json / report.md)."""
import json

from mmpretrain_osdtw.evaluation import (REFINED_ROW, STAGE1_ROW,
                                         write_pipeline_report)


def test_report_files(tmp_path):
    rows = {
        REFINED_ROW: {'lt/top1': 50.0, 'lt/many': 60.0},
        STAGE1_ROW.format(task='head'): {'lt/top1': 40.0}
    }
    chosen = dict(shared_depth=2, head_weight=0.35, num_layers=4)
    paths = write_pipeline_report(
        str(tmp_path), rows, chosen, 'truncate', {'stage1_head': 1.25})
    report = json.loads(open(paths['json']).read())
    assert report == dict(
        chosen=chosen,
        models=rows,
        timings={'stage1_head': 1.25},
        stage2_mode='truncate')
    text = open(paths['markdown']).read()
    assert 'C = 2, head weight w_A = 0.35 (stage 2 mode: truncate)' in text
    assert REFINED_ROW in text and 'stage 1 head task' in text
    assert '| stage1_head | 1.2 |' in text or '| stage1_head | 1.3 |' in text


def test_every_row_is_explained_in_one_line(tmp_path):
    from mmpretrain_osdtw.evaluation.pipeline_report import (ASSEMBLED_ROW,
                                                             PAIR_ROW,
                                                             ROW_MEANINGS,
                                                             STAGE2_ROW)
    labels = [REFINED_ROW, ASSEMBLED_ROW, STAGE2_ROW, PAIR_ROW] + [
        STAGE1_ROW.format(task=t) for t in ('head', 'tail')]
    assert set(labels) == set(ROW_MEANINGS)
    rows = {label: {'lt/top1': 10.0} for label in labels}
    paths = write_pipeline_report(
        str(tmp_path), rows, dict(shared_depth=1, head_weight=0.5,
                                  num_layers=2), 'truncate', {})
    text = open(paths['markdown']).read()
    for label in labels:
        assert text.count(f'- {label}: {ROW_MEANINGS[label]}') == 1
    assert 'before refinement' in ROW_MEANINGS[ASSEMBLED_ROW]


def test_nothing_shared_reads_as_two_models(tmp_path):
    """At C = 0 (no stage 2) the refined and assembled rows say what they
    are: the two task models, refined whole."""
    from mmpretrain_osdtw.evaluation.pipeline_report import (
        ASSEMBLED_ROW, PAIR_ROW, ROW_MEANINGS, ROW_MEANINGS_C0)
    rows = {label: {'lt/top1': 10.0}
            for label in (REFINED_ROW, ASSEMBLED_ROW, PAIR_ROW)}
    paths = write_pipeline_report(
        str(tmp_path), rows, dict(shared_depth=0, head_weight=0.5,
                                  num_layers=2), 'truncate', {})
    text = open(paths['markdown']).read()
    assert f'- {REFINED_ROW}: {ROW_MEANINGS_C0[REFINED_ROW]}' in text
    assert f'- {ASSEMBLED_ROW}: {ROW_MEANINGS_C0[ASSEMBLED_ROW]}' in text
    assert f'- {PAIR_ROW}: {ROW_MEANINGS[PAIR_ROW]}' in text
    assert 'encoder frozen' not in text


def test_the_test_steps_time_so_far_is_labelled(tmp_path):
    rows = {REFINED_ROW: {'lt/top1': 50.0}}
    chosen = dict(shared_depth=2, head_weight=0.35, num_layers=4)
    timings = {'stage1_head': 1.5, 'test': 2.5}
    paths = write_pipeline_report(
        str(tmp_path), rows, chosen, 'truncate', timings, running='test')
    assert json.loads(open(paths['json']).read())['timings'] == timings
    text = open(paths['markdown']).read()
    assert text.endswith('| stage1_head | 1.5 |\n| test (so far) | 2.5 |\n')


def test_a_validation_choice_is_reported(tmp_path):
    """train_cfg.choose='validation': report.json says how the choice was
    made, report.md in one line; without it the report is as before."""
    info = dict(by='validation', metric='top1', score=81.25,
                validation=dict(C=2, w_A=0.7), proxy=dict(C=4, w_A=0.43),
                override=dict(shared_depth=None, head_weight=None), cells=9)
    chosen = dict(shared_depth=2, head_weight=0.7, num_layers=4)
    paths = write_pipeline_report(str(tmp_path), {}, chosen, 'truncate',
                                  {'validation': 2.0}, choice_info=info)
    report = json.loads(open(paths['json']).read())
    assert report['choice_info'] == info
    text = open(paths['markdown']).read()
    assert ('Chosen on the validation split: C = 2, w_A = 0.70 had the best '
            'validation top1 (81.25) of 9 (C, w_A) cells; the proxy (a '
            'diagnostic) chose C = 4, w_A = 0.43.\n') in text
    info['override']['shared_depth'] = 1
    write_pipeline_report(str(tmp_path), {}, chosen, 'truncate', {},
                          choice_info=info)
    assert 'Overridden by train_cfg.shared_depth=1.' in open(
        paths['markdown']).read()
