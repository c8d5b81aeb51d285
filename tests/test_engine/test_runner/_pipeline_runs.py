"""The tiny pipeline of the resume tests: the toy images with a random
flip, stochastic depth in the ViT (both draw random numbers every
iteration, so a resume that restores the wrong random states shows), and the
test hook that interrupts a run where ``OSDTW_TEST_INTERRUPT`` says."""
import json
from pathlib import Path
from typing import NamedTuple, Optional

from _interrupt_hook import ENV_VAR
from _toy_images import write_toy_dataset
from test_stage_runner import ENV, train, write_configs

TRAIN_PIPELINE = ("[dict(type='LoadImageFromFile'), dict(type='RandomFlip', "
                  "prob=0.5, direction='horizontal'), "
                  "dict(type='PackInputs')]")
EXTRA = (
    "custom_imports = dict(imports=['mmpretrain_osdtw', '_interrupt_hook'], "
    'allow_failed_imports=False)',
    "default_hooks = dict(interrupt=dict(type='InterruptAtHook'))",
    # (the whole `model` line: a config's later assignment replaces one)
    'model = dict(head=dict(num_classes=4), '
    'backbone=dict(drop_path_rate=0.1))',
)


class Run(NamedTuple):
    """One ``tools/train.py`` run: exit code, stdout, stderr."""
    code: int
    out: str
    err: str


def write_resume_configs(folder: Path) -> Path:
    """The pipeline config (and its stage configs) in ``folder``."""
    data = write_toy_dataset(folder / 'data')
    return write_configs(folder, data, TRAIN_PIPELINE, EXTRA)


def run(config: Path,
        work_dir: Path,
        logs: Path,
        interrupt: Optional[str] = None,
        *options: str) -> Run:
    """Run ``tools/train.py`` on ``config`` to its end (``interrupt``: the
    ``OSDTW_TEST_INTERRUPT`` point); stdout and stderr go to
    ``logs.out``/``logs.err``."""
    env = dict(ENV)
    env.pop(ENV_VAR, None)
    if interrupt is not None:
        env[ENV_VAR] = interrupt
    out, err = logs.with_suffix('.out'), logs.with_suffix('.err')
    with open(err, 'w') as err_file:
        proc = train(
            config, work_dir, out, *options, env=env, stderr=err_file)
        proc.wait(timeout=300)
    return Run(proc.returncode, out.read_text(), err.read_text())


def results(work_dir: Path) -> tuple:
    """``search.json`` without ``inputs`` and ``timings``, ``report.json``
    without ``timings``: what an interrupted run must reproduce."""
    search = json.loads((work_dir / 'search' / 'search.json').read_text())
    report = json.loads((work_dir / 'test' / 'report.json').read_text())
    for key in ('inputs', 'timings'):
        search.pop(key, None)
    report.pop('timings')
    return search, report

