"""Item 5, ``pipeline``: wall time of ``tools/train.py`` on the Digits-LT
OSDTW pipeline vs the Bal-BCE baseline with the same epochs (subprocesses
with ``OMP_NUM_THREADS``), with the pipeline's per-step times; then the
same pipeline with both stage-1 tasks in one data pass
(``train_cfg.stage1_pair``)."""
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
from typing import List

from .runtime import header

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def _run(cmd: List[str], env: dict, log: str) -> float:
    start = time.perf_counter()
    with open(log, 'w') as f:
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=f,
                              stderr=subprocess.STDOUT)
    elapsed = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f'{" ".join(cmd)} failed (exit {proc.returncode})'
                           f'; see {log}')
    return elapsed


def bench_pipeline(args) -> dict:
    header('5. whole OSDTW pipeline vs one baseline training (Digits-LT)')
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    tmp = tempfile.mkdtemp(prefix='osdtw_speed_')
    pipe_dir = osp.join(REPO, 'configs/osdtw/digits_lt')
    pipeline_cfg = osp.join(pipe_dir, 'pipeline.py')
    baseline_cfg = osp.join(
        REPO, 'configs/baselines/digits_lt/vit-nano-p2_bal-bce.py')
    base_opts = []
    if args.quick:
        epochs = 2
        pipeline_cfg = osp.join(tmp, 'pipeline_quick.py')
        stages = dict(
            stage1_head='stage1_head.py',
            stage1_tail='stage1_tail.py',
            stage2='stage2_joint.py',
            assemble='stage3_assemble.py',
            refine='stage3_refine.py')
        with open(pipeline_cfg, 'w') as f:
            f.write(f"_base_ = {osp.join(pipe_dir, 'pipeline.py')!r}\n"
                    'train_cfg = dict(\n')
            for key, name in stages.items():
                f.write(f'    {key}={osp.join(pipe_dir, name)!r},\n')
            f.write("    stage_cfg_options={'train_cfg.max_epochs': "
                    f'{epochs}}})\n')
        base_opts = ['--cfg-options', f'train_cfg.max_epochs={epochs}']
    py = sys.executable
    wall = {}
    wall['baseline'] = _run(
        [py, 'tools/train.py', baseline_cfg, '--work-dir',
         osp.join(tmp, 'baseline')] + base_opts, env,
        osp.join(tmp, 'baseline.log'))
    wall['pipeline'] = _run(
        [py, 'tools/train.py', pipeline_cfg, '--work-dir',
         osp.join(tmp, 'pipeline')], env, osp.join(tmp, 'pipeline.log'))
    # stage 1 in one data pass (TaskPairClassifier)
    pair_cfg = osp.join(pipe_dir, 'stage1_pair.py')
    wall['pipeline_pair'] = _run(
        [py, 'tools/train.py', pipeline_cfg, '--work-dir',
         osp.join(tmp, 'pipeline_pair'), '--cfg-options',
         f'train_cfg.stage1_pair={pair_cfg}'], env,
        osp.join(tmp, 'pipeline_pair.log'))
    steps = {}
    for name in ('pipeline', 'pipeline_pair'):
        with open(osp.join(tmp, name, 'test', 'report.json')) as f:
            steps[name] = json.load(f).get('timings', {})
    row = dict(
        baseline_s=wall['baseline'],
        pipeline_s=wall['pipeline'],
        ratio=wall['pipeline'] / wall['baseline'],
        pipeline_pair_s=wall['pipeline_pair'],
        ratio_pair=wall['pipeline_pair'] / wall['baseline'],
        steps_s=steps['pipeline'],
        steps_pair_s=steps['pipeline_pair'],
        work_dir=tmp,
        quick=args.quick)
    print(f'baseline (Bal-BCE, {"2" if args.quick else "60"} epochs) '
          f'{wall["baseline"]:.1f} s; pipeline {wall["pipeline"]:.1f} s; '
          f'ratio {row["ratio"]:.2f}x (target <= 2.0x)')
    print('  pipeline steps (s): ' + ', '.join(
        f'{k} {v:.1f}' for k, v in steps['pipeline'].items()))
    print(f'stage 1 in one data pass (train_cfg.stage1_pair): pipeline '
          f'{wall["pipeline_pair"]:.1f} s; ratio {row["ratio_pair"]:.2f}x')
    print('  pipeline steps (s): ' + ', '.join(
        f'{k} {v:.1f}' for k, v in steps['pipeline_pair'].items()))
    return row
