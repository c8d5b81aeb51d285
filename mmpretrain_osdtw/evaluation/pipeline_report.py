"""The OSDTW pipeline's final report: ``report.json`` and ``report.md``.

The test step of :class:`~mmpretrain_osdtw.engine.runner.StageRunner`
evaluates every model of the pipeline and writes one row per model, named by
the labels below (the benchmark driver reads its rows by the same names).

``report.json``::

    {"chosen": {"shared_depth": C, "head_weight": w_A, "num_layers": L},
     "models": {<row label>: {<metric>: value, ...}, ...},
     "timings": {<step>: seconds, ...},
     "stage2_mode": "truncate" | "exact",
     "choice_info": {...}}     # only with train_cfg.choose='validation'

``choice_info`` says how the choice was made when it was not the proxy's:
``{"by": "validation", "metric": "top1", "score": ..., "validation": {"C",
"w_A"}, "proxy": {"C", "w_A"}, "override": {"shared_depth", "head_weight"},
"cells": n}`` (the proxy's choice is a diagnostic there).

``timings`` holds every finished step's seconds and, last, the test step's
own seconds until the report was written (the report is written inside
that step: its ``done.json`` has the whole time).

``report.md``: the chosen pair, the Many/Medium/Few table
(:func:`~mmpretrain_osdtw.evaluation.report.format_shot_table`) and the step
timings, the test step's labelled ``test (so far)``.
"""
import os.path as osp
from typing import Dict, List, Mapping, Optional

from mmengine.dist import barrier, is_main_process

from mmpretrain_osdtw.utils import atomic_json_dump, atomic_write_text
from .report import format_shot_table

#: The assembled model after decoder refinement (the pipeline's result).
REFINED_ROW = 'OSDTW (assembled + refined)'
#: The assembled model (stage-2 encoder of depth C + stage-1 decoders).
ASSEMBLED_ROW = 'OSDTW (assembled)'
#: The stage-2 joint model.
STAGE2_ROW = 'stage 2 (joint)'
#: The two stage-1 task models side by side (C = 0).
PAIR_ROW = 'stage 1 pair (C=0)'
#: One stage-1 task model; ``{task}`` is ``head`` or ``tail``.
STAGE1_ROW = 'stage 1 {task} task'
REPORT_JSON = 'report.json'
REPORT_MD = 'report.md'
#: What each row is, one line each under the table of ``report.md``.
ROW_MEANINGS = {
    REFINED_ROW: 'the result: the assembled model after its decoders were '
    'refined on the shared encoder (encoder frozen)',
    ASSEMBLED_ROW: "stage 2's first C blocks with the stage-1 decoders, "
    'before refinement: those decoders were trained on their own '
    'encoders, so this row can be far below the others (from scratch, '
    'even below chance); the refinement re-aligns them',
    STAGE2_ROW: 'the weighted joint model that gives the shared encoder',
    PAIR_ROW: 'the two stage-1 task models side by side (nothing shared: '
    'the cost of two models)',
    STAGE1_ROW.format(task='head'): "the head-task model alone, scored on "
    "every class (it predicts only its task's classes)",
    STAGE1_ROW.format(task='tail'): "the tail-task model alone, scored on "
    "every class (it predicts only its task's classes)",
}
#: The rows that read differently when nothing is shared (C = 0: no
#: stage 2, the assembled model is the two stage-1 models).
ROW_MEANINGS_C0 = {
    REFINED_ROW: 'the result: nothing is shared (C = 0), so the refinement '
    'trained both whole task models further, as one model, on every class',
    ASSEMBLED_ROW: 'the two stage-1 task models side by side (C = 0: no '
    'stage 2 was trained), before refinement',
}


def row_meaning(label: str, shared_depth: int) -> Optional[str]:
    """The line under the table for one row (None for an unknown row)."""
    if shared_depth == 0 and label in ROW_MEANINGS_C0:
        return ROW_MEANINGS_C0[label]
    return ROW_MEANINGS.get(label)


def choice_line(info: Mapping[str, object]) -> str:
    """One line of ``report.md``: how the choice was made (see
    ``choice_info`` in the module doc)."""
    val, proxy = info['validation'], info['proxy']
    line = (f'Chosen on the validation split: C = {val["C"]}, w_A = '
            f'{val["w_A"]:.2f} had the best validation {info["metric"]} '
            f'({info["score"]:.4g}) of {info["cells"]} (C, w_A) cells; '
            f'the proxy (a diagnostic) chose C = {proxy["C"]}, w_A = '
            f'{proxy["w_A"]:.2f}.')
    override = {k: v for k, v in (info.get('override') or {}).items()
                if v is not None}
    if override:
        line += ' Overridden by ' + ', '.join(
            f'train_cfg.{k}={v}' for k, v in override.items()) + '.'
    return line


def report_markdown(rows: Mapping[str, Mapping[str, object]],
                    chosen: Mapping[str, object],
                    stage2_mode: str,
                    timings: Mapping[str, float],
                    running: Optional[str] = None,
                    choice_info: Optional[Mapping[str, object]] = None
                    ) -> str:
    """The text of ``report.md``.

    Args:
        rows (Mapping): ``{row label: test metrics}``.
        chosen (Mapping): ``shared_depth`` and ``head_weight`` used.
        stage2_mode (str): The pipeline's stage-2 mode.
        timings (Mapping): ``{step: seconds}``.
        running (str, optional): The step that writes the report; its row
            is labelled ``<step> (so far)``.
        choice_info (Mapping, optional): How the choice was made, when not
            by the proxy (a line under the chosen pair).

    Returns:
        str: Markdown, ending with a newline.
    """
    table = format_shot_table(rows) or '(no ShotGroupMetric results)'
    lines: List[str] = [
        '# OSDTW pipeline report', '',
        f'Chosen shared depth C = {chosen["shared_depth"]}, head weight '
        f'w_A = {chosen["head_weight"]:.2f} (stage 2 mode: '
        f'{stage2_mode}).', ''
    ]
    if choice_info:
        lines += [choice_line(choice_info), '']
    lines += [table, '']
    meanings = {label: row_meaning(label, chosen['shared_depth'])
                for label in rows}
    lines += [f'- {label}: {meanings[label]}' for label in rows
              if meanings[label]]
    lines += ['', '| step | seconds |', '|---|---|']
    lines += [
        f'| {step}{" (so far)" if step == running else ""} | {sec:.1f} |'
        for step, sec in timings.items()
    ]
    return '\n'.join(lines) + '\n'


def write_pipeline_report(out_dir: str,
                          rows: Dict[str, dict],
                          chosen: Dict[str, object],
                          stage2_mode: str,
                          timings: Dict[str, float],
                          running: Optional[str] = None,
                          choice_info: Optional[dict] = None
                          ) -> Dict[str, str]:
    """Write ``report.json`` and ``report.md`` into ``out_dir`` (rank 0,
    atomically).

    Args:
        out_dir (str): The test step's folder.
        rows (dict): ``{row label: test metrics}``.
        chosen (dict): The choice (``TaskPairChoice.to_dict()``).
        stage2_mode (str): The pipeline's stage-2 mode.
        timings (dict): ``{step: seconds}`` of the finished steps, and of
            the ``running`` one so far.
        running (str, optional): The step that writes the report (the test
            step).
        choice_info (dict, optional): How the choice was made, when not by
            the proxy (``report.json``'s ``choice_info``).

    Returns:
        dict: ``{'json': path, 'markdown': path}``.
    """
    out_json = osp.join(out_dir, REPORT_JSON)
    out_md = osp.join(out_dir, REPORT_MD)
    if is_main_process():
        report = dict(
            chosen=chosen,
            models=rows,
            timings=timings,
            stage2_mode=stage2_mode)
        if choice_info:
            report['choice_info'] = choice_info
        atomic_json_dump(report, out_json)
        atomic_write_text(
            report_markdown(rows, chosen, stage2_mode, timings, running,
                            choice_info), out_md)
    barrier()
    return dict(json=out_json, markdown=out_md)
