"""Accuracy benchmark on CIFAR-10-LT: baselines, MORE and OSDTW (with a
``(C, w_A)`` grid that tests the proxy), on a CPU.

Every method trains the same small ViT (``configs/benchmarks/cifar10_lt/
_bench.py``) as subprocesses of ``tools/train.py`` / ``tools/test.py`` with
``OMP_NUM_THREADS=1``, ``--jobs`` of them at a time. Per seed:

- ``ce``, ``la-ce``, ``bal-bce``, ``more_ce``, ``more_bal-bce``: one
  training each, then the test split (MORE: its merged plain model);
- ``osdtw``: the whole OSDTW pipeline (``osdtw_pipeline.py``, proxy search
  with the debiased-positive mismatch), its proxy-chosen ``(C, w_A)``;
- ``stage2_w<w>``: the stage-2 joint model per grid weight (``truncate``
  mode shares the whole body, so it does not depend on ``C``);
- ``grid_C<c>_w<w>``: assembly of the pipeline's stage-1 models with
  ``stage2_w<w>`` at depth ``c``, decoder refinement, test;
- ``search_<mismatch>``: ``tools/osdtw_search.py`` on the pipeline's
  stage-1 statistics with the raw, debiased and debiased-positive mismatch.

``--imb-ratio R`` runs everything at another imbalance ratio (default
100): the driver sets ``OSDTW_BENCH_IMB_RATIO=R`` for every subprocess,
which ``_bench.py`` reads (so every pipeline stage sees it too). For a
bigger run (a GPU), ``--arch small`` (ViT-S: 12 blocks, 384 dims, 6 heads,
MLP 1536, patch 4), ``--epochs E`` (refinement: ``max(1, E // 3)``),
``--workers W`` (data-loading processes) and ``--amp`` (mixed precision,
CUDA) work the same way (``OSDTW_BENCH_*`` variables, ``--amp`` of
``tools/train.py``). The default work and output folders get a suffix
naming every setting that differs from the CPU run (``_ir50``,
``_small_e30_amp``, ...).

Runs are resumable: a run whose result JSON exists is skipped (and the
trainings resume from their last checkpoint). ``aggregate`` turns whatever
results exist into ``accuracy.md``, ``accuracy.json`` and the plots::

    python tools/benchmark/cifar10_lt_accuracy.py run --seeds 0 1 2 --jobs 2
    python tools/benchmark/cifar10_lt_accuracy.py aggregate
    python tools/benchmark/cifar10_lt_accuracy.py run --imb-ratio 50
"""
import argparse
import json
import math
import os
import os.path as osp
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from mmpretrain_osdtw.datasets.long_tailed import long_tailed_counts
from mmpretrain_osdtw.engine.runner.stage_runner import PIPELINE_STEPS
from mmpretrain_osdtw.engine.runner.step_ledger import StepLedger
from mmpretrain_osdtw.evaluation.pipeline_report import (ASSEMBLED_ROW,
                                                         PAIR_ROW,
                                                         REFINED_ROW,
                                                         STAGE2_ROW)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG_DIR = osp.join('configs', 'benchmarks', 'cifar10_lt')
ARCHIVE = osp.join(REPO, '..', 'shared', 'data', 'cifar10',
                   'cifar10_jpeg.tar.gz')
BASELINES = {
    'ce': ('CE', 'vit-mini-p8_ce.py', None),
    'la-ce': ('LA-CE', 'vit-mini-p8_la-ce.py', None),
    'bal-bce': ('Bal-BCE', 'vit-mini-p8_bal-bce.py', None),
    'more_ce': ('MORE + CE', 'vit-mini-p8_more_ce.py', 'vit-mini-p8_ce.py'),
    'more_bal-bce': ('MORE + Bal-BCE', 'vit-mini-p8_more_bal-bce.py',
                     'vit-mini-p8_bal-bce.py'),
}
MISMATCHES = ('raw', 'debiased', 'debiased-positive')
PIPELINE_MISMATCH = 'debiased-positive'
SEARCH_ARGS = ('--w-min', '0.05', '--w-max', '0.95', '--w-step', '0.01')
METRIC_KEYS = ('top1', 'head_acc', 'tail_acc', 'many', 'medium', 'few',
               'mean_class_acc', 'head_task_acc', 'tail_task_acc')
MANY_THR, FEW_THR = 1500, 200
IMB_ENV = 'OSDTW_BENCH_IMB_RATIO'
DEFAULT_IMB_RATIO = 100
DEFAULT_EPOCHS = 3
#: --arch presets: ``OSDTW_BENCH_*`` values of ``_bench.py`` and the
#: default grid depths (C <= L).
ARCHS = {
    'mini':
    dict(
        env=dict(DIMS=64, LAYERS=4, HEADS=4, FFN=128, PATCH=8),
        depths=[1, 2, 4]),
    'small':
    dict(
        env=dict(DIMS=384, LAYERS=12, HEADS=6, FFN=1536, PATCH=4),
        depths=[3, 6, 12]),
}


# ----------------------------------------------------------- pure helpers
def cifar_lt_counts(n_max: int = 5000,
                    num_classes: int = 10,
                    imb_ratio: float = 100) -> List[int]:
    """Training counts of the CIFAR-LT protocol,
    ``int(n_max * IR^(-i / (K - 1)))`` for class ``i``.

    Example:
        >>> cifar_lt_counts()[:3], sum(cifar_lt_counts())
        ([5000, 2997, 1796], 12406)
    """
    if num_classes < 2 or imb_ratio < 1:
        raise ValueError(f'need num_classes >= 2 and imb_ratio >= 1, got '
                         f'{num_classes} and {imb_ratio}')
    return long_tailed_counts(n_max, num_classes, imb_ratio).tolist()


def strip_prefix(metrics: dict, prefix: str = 'lt/') -> dict:
    """``{'lt/top1': x}`` -> ``{'top1': x}`` (other keys unchanged)."""
    return {
        (k[len(prefix):] if k.startswith(prefix) else k): v
        for k, v in metrics.items()
    }


def mean_std(values: Sequence[float]) -> Tuple[float, float, int]:
    """Mean, sample standard deviation (0 for one value) and count of the
    finite values.

    Example:
        >>> mean_std([1.0, 3.0])
        (2.0, 1.4142135623730951, 2)
    """
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return float('nan'), float('nan'), 0
    mean = sum(vals) / len(vals)
    if len(vals) == 1:
        return mean, 0.0, 1
    var = sum((v - mean)**2 for v in vals) / (len(vals) - 1)
    return mean, math.sqrt(var), len(vals)


def format_mean_std(values: Sequence[float], digits: int = 1) -> str:
    """``'mean ± std'`` (just the mean for one value, ``'-'`` for none)."""
    mean, std, n = mean_std(values)
    if n == 0:
        return '-'
    if n == 1:
        return f'{mean:.{digits}f}'
    return f'{mean:.{digits}f} ± {std:.{digits}f}'


def proxy_at(search: dict, depth: int, weight: float) -> float:
    """The proxy of ``search.json`` at row ``C = depth`` and the ``w_A``
    column nearest to ``weight``."""
    rows = search['grid']['proxy']
    if not 0 <= depth < len(rows):
        raise ValueError(f'C={depth} is outside the search grid 0..'
                         f'{len(rows) - 1}')
    w_grid = search['w_grid']
    col = min(range(len(w_grid)), key=lambda i: abs(w_grid[i] - weight))
    return float(rows[depth][col])


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (nan for fewer than 3 pairs or a
    constant input)."""
    if len(x) != len(y):
        raise ValueError(f'spearman: {len(x)} vs {len(y)} values')
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return float('nan')
    from scipy.stats import spearmanr
    return float(spearmanr(x, y).statistic)


def spearman_within_depth(proxy: Dict[Tuple[int, float], float],
                          errors: Dict[Tuple[int, float], float]) -> float:
    """Mean over depths C of the Spearman correlation across that depth's
    w_A values (does the proxy rank the weights, not only the depths?);
    nan when no depth has 3 or more points with distinct values."""
    values = []
    for depth in sorted({p[0] for p in errors}):
        points = sorted(p for p in errors if p[0] == depth)
        rho = spearman([proxy[p] for p in points],
                       [errors[p] for p in points])
        if math.isfinite(rho):
            values.append(rho)
    return sum(values) / len(values) if values else float('nan')


def regret(errors: Dict[Tuple[int, float], float],
           choice: Tuple[int, float]) -> float:
    """Relative excess error of ``choice`` over the grid's best point,
    ``err(choice) / min err - 1``."""
    best = min(errors.values())
    return errors[choice] / best - 1.0


def proxy_grid_choice(proxy: Dict[Tuple[int, float], float]
                      ) -> Tuple[int, float]:
    """The grid point with the smallest proxy (ties: larger C, then w
    closer to 0.5, as the search breaks them)."""
    return min(proxy, key=lambda p: (proxy[p], -p[0], abs(p[1] - 0.5)))


def weight_tag(weight: float) -> str:
    """``0.3`` -> ``'0.30'`` (run names)."""
    return f'{weight:.2f}'


# ----------------------------------------------------------- jobs
@dataclass
class Job:
    """One run: commands built when its inputs exist, then a result JSON.

    Attributes:
        name (str): Unique name, also the result file's stem.
        seed (int): The seed.
        deps (list[str]): Files that must exist before it starts.
        build (callable): ``() -> [(label, argv), ...]``.
        finish (callable): ``(seconds per label) -> result dict``.
    """
    name: str
    seed: int
    deps: List[str]
    build: Callable[[], List[Tuple[str, List[str]]]]
    finish: Callable[[Dict[str, float]], dict]
    state: str = 'pending'
    seconds: Dict[str, float] = field(default_factory=dict)


class Benchmark:
    """Builds and runs the jobs of one benchmark folder."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.root = osp.abspath(args.work_dir)
        self.py = sys.executable
        self.lock = threading.Lock()

    # paths
    def seed_dir(self, seed: int) -> str:
        return osp.join(self.root, f'seed{seed}')

    def result_path(self, seed: int, name: str) -> str:
        return osp.join(self.root, 'results', f'seed{seed}', f'{name}.json')

    def log(self, message: str) -> None:
        with self.lock:
            print(f'[{time.strftime("%H:%M:%S")}] {message}', flush=True)

    # command pieces
    def env(self) -> Dict[str, str]:
        """The ``OSDTW_BENCH_*`` variables of this run."""
        args = self.args
        out = {IMB_ENV: str(args.imb_ratio)}
        for key, value in ARCHS[args.arch]['env'].items():
            out[f'OSDTW_BENCH_{key}'] = str(value)
        out['OSDTW_BENCH_EPOCHS'] = str(args.epochs)
        out['OSDTW_BENCH_REFINE_EPOCHS'] = str(max(1, args.epochs // 3))
        out['OSDTW_BENCH_WORKERS'] = str(args.workers)
        return out

    def amp_opts(self) -> List[str]:
        return ['--amp'] if self.args.amp else []

    def epoch_opts(self, refine: bool = False) -> List[str]:
        if self.args.smoke_epochs is not None:
            return [f'train_cfg.max_epochs={self.args.smoke_epochs}']
        return []

    def data_opts(self, *keys: str) -> List[str]:
        return [f'{k}.data_root={self.args.data_root}' for k in keys]

    def train_cmd(self, config: str, work_dir: str, seed: int,
                  extra: Sequence[str] = (),
                  data_keys: Sequence[str] = (),
                  resume: bool = True) -> List[str]:
        return [
            self.py, 'tools/train.py',
            osp.join(CFG_DIR, config), '--work-dir', work_dir,
            '--no-validate', *(['--resume'] if resume else []),
            *self.amp_opts(),
            '--cfg-options',
            f'randomness.seed={seed}', *self.epoch_opts(), *extra,
            *self.data_opts(*data_keys)
        ]

    def test_cmd(self, config: str, ckpt: str, out: str,
                 extra: Sequence[str] = ()) -> List[str]:
        return [
            self.py, 'tools/test.py',
            osp.join(CFG_DIR, config), ckpt, '--work-dir',
            osp.join(osp.dirname(out), 'test_logs'), '--out', out,
            '--out-item', 'metrics', '--cfg-options', *extra,
            *self.data_opts('test_dataloader.dataset')
        ]

    # job factories
    def baseline_job(self, seed: int, key: str) -> Job:
        label, config, test_config = BASELINES[key]
        work = osp.join(self.seed_dir(seed), key)
        out = osp.join(work, 'metrics.json')

        def build():
            train = self.train_cmd(
                config, work, seed,
                data_keys=['train_dataloader.dataset.dataset'])
            ckpt = osp.join(work, 'merged.pth') if test_config else \
                osp.join(work, 'last_checkpoint')
            return [('train', train),
                    ('test', lambda: self.test_cmd(test_config or config,
                                                   _resolve(ckpt), out))]

        def finish(sec):
            return dict(
                method=key,
                label=label,
                seed=seed,
                metrics=_read_metrics(out),
                wall_s=sum(sec.values()),
                seconds=sec)

        return Job(key, seed, [], build, finish)

    def pipeline_job(self, seed: int) -> Job:
        work = osp.join(self.seed_dir(seed), 'osdtw')
        report = osp.join(work, 'test', 'report.json')

        def build():
            opts = [
                f'randomness.seed={seed}',
                f'train_cfg.stage_cfg_options.randomness.seed={seed}',
                'train_cfg.stage_cfg_options.train_cfg.val_interval=1000',
                'train_cfg.stage_cfg_options.train_cfg.val_begin=1000',
            ]
            if self.args.smoke_epochs is not None:
                opts.append('train_cfg.stage_cfg_options.train_cfg.'
                            f'max_epochs={self.args.smoke_epochs}')
            if self.args.data_root != 'data/cifar10':
                raise ValueError('the OSDTW pipeline reads data/cifar10 '
                                 '(--data-root is not passed to its stages)')
            return [('pipeline', [
                self.py, 'tools/train.py',
                osp.join(CFG_DIR, 'osdtw_pipeline.py'), '--work-dir', work,
                *self.amp_opts(), '--cfg-options', *opts
            ])]

        def finish(sec):
            with open(report, encoding='utf-8') as f:
                rep = json.load(f)
            rows = {k: strip_prefix(v) for k, v in rep['models'].items()}
            return dict(
                method='osdtw',
                label='OSDTW (proxy choice)',
                seed=seed,
                chosen=rep['chosen'],
                metrics=rows[REFINED_ROW],
                rows=rows,
                timings=rep['timings'],
                wall_s=sum(sec.values()),
                seconds=sec)

        return Job('osdtw', seed, [], build, finish)

    def stage2_job(self, seed: int, weight: float) -> Job:
        name = f'stage2_w{weight_tag(weight)}'
        work = osp.join(self.seed_dir(seed), 'grid', name)

        def build():
            return [('train',
                     self.train_cmd(
                         'osdtw_stage2_joint.py', work, seed,
                         [f'model.head_weight={weight}'],
                         data_keys=['train_dataloader.dataset.dataset']))]

        def finish(sec):
            return dict(
                method='stage2',
                seed=seed,
                head_weight=weight,
                checkpoint=_resolve(osp.join(work, 'last_checkpoint')),
                wall_s=sum(sec.values()),
                seconds=sec)

        return Job(name, seed, [], build, finish)

    def ledger(self, seed: int) -> StepLedger:
        """The pipeline run's step ledger (its ``done.json`` files)."""
        return StepLedger(
            osp.join(self.seed_dir(seed), 'osdtw'), PIPELINE_STEPS)

    def stage1_done(self, seed: int, task: str) -> str:
        return self.ledger(seed).done_path(f'stage1_{task}')

    def grid_job(self, seed: int, depth: int, weight: float) -> Job:
        name = f'grid_C{depth}_w{weight_tag(weight)}'
        work = osp.join(self.seed_dir(seed), 'grid', name)
        stage2 = self.result_path(seed, f'stage2_w{weight_tag(weight)}')
        out = osp.join(work, 'metrics.json')
        model = [f'model.shared_depth={depth}', f'model.head_weight={weight}']

        def build():
            ckpts = {
                t: self.ledger(seed).artifact(f'stage1_{t}', 'checkpoint')
                for t in ('head', 'tail')
            }
            assembled = osp.join(work, 'assembled.pth')
            assemble = [
                self.py, 'tools/osdtw_assemble.py',
                osp.join(CFG_DIR, 'osdtw_stage3_assemble.py'),
                '--stage1-head', ckpts['head'], '--stage1-tail',
                ckpts['tail'], '--shared-depth',
                str(depth), '--head-weight',
                str(weight), '--out', assembled
            ]
            if depth > 0:
                assemble += ['--stage2', _read_json(stage2)['checkpoint']]
            refine_dir = osp.join(work, 'refine')
            # mmengine resumes from load_from when given with --resume:
            # start from the assembled model, or resume a killed refinement.
            resume = osp.isfile(osp.join(refine_dir, 'last_checkpoint'))
            refine = self.train_cmd(
                'osdtw_stage3_refine.py',
                refine_dir,
                seed,
                model + ([] if resume else [f'load_from={assembled}']),
                data_keys=['train_dataloader.dataset.dataset'],
                resume=resume)
            return [('assemble', assemble), ('refine', refine),
                    ('test', lambda: self.test_cmd(
                        'osdtw_stage3_refine.py',
                        _resolve(osp.join(refine_dir, 'last_checkpoint')),
                        out, model))]

        def finish(sec):
            s2 = _read_json(stage2)
            stage1 = sum(
                self.ledger(seed).read(f'stage1_{t}')['seconds']
                for t in ('head', 'tail'))
            return dict(
                method='grid',
                seed=seed,
                C=depth,
                w_A=weight,
                metrics=_read_metrics(out),
                stage1_s=stage1,
                stage2_s=s2['wall_s'],
                wall_s=stage1 + s2['wall_s'] + sum(sec.values()),
                seconds=sec)

        deps = [self.stage1_done(seed, t) for t in ('head', 'tail')]
        if depth > 0:
            deps.append(stage2)
        return Job(name, seed, deps, build, finish)

    def search_job(self, seed: int, mismatch: str) -> Job:
        name = f'search_{mismatch}'
        base = osp.join(self.seed_dir(seed), 'osdtw')
        out_dir = osp.join(self.seed_dir(seed), name)
        cross_done = self.ledger(seed).done_path('fisher_cross')

        def build():
            return [('search', [
                self.py, 'tools/osdtw_search.py',
                osp.join(base, 'stage1_head', 'fisher_head.pth'),
                osp.join(base, 'stage1_tail', 'fisher_tail.pth'), '--cross',
                osp.join(base, 'fisher_cross', 'fisher_cross.pth'),
                '--out-dir', out_dir, '--mismatch', mismatch, *SEARCH_ARGS
            ])]

        def finish(sec):
            search = _read_json(osp.join(out_dir, 'search.json'))
            return dict(
                method='search',
                seed=seed,
                mismatch=mismatch,
                chosen=search['chosen'],
                w_grid=search['w_grid'],
                proxy=search['grid']['proxy'],
                wall_s=sum(sec.values()))

        return Job(name, seed, [cross_done], build, finish)

    def jobs(self) -> List[Job]:
        """All jobs in priority order: the main table (pipeline, baselines,
        searches) and the grid of the first seed, then the main table of
        the other seeds, then their grids; so that a run cut short still
        has a proxy validation and every method on as many seeds as
        possible."""
        main, grid = {}, {}
        for seed in self.args.seeds:
            main[seed], grid[seed] = [], []
            if 'osdtw' in self.args.methods:
                main[seed].append(self.pipeline_job(seed))
            main[seed] += [
                self.baseline_job(seed, m) for m in self.args.methods
                if m in BASELINES
            ]
            if 'osdtw' not in self.args.methods:
                continue
            main[seed] += [self.search_job(seed, m) for m in MISMATCHES]
            if self.args.grid:
                grid[seed] += [
                    self.stage2_job(seed, w) for w in self.args.weights
                ]
                grid[seed] += [
                    self.grid_job(seed, c, w) for c in self.args.depths
                    for w in self.args.weights
                ]
        first, rest = self.args.seeds[0], self.args.seeds[1:]
        out = main[first] + grid[first]
        for seed in rest:
            out += main[seed]
        for seed in rest:
            out += grid[seed]
        return out

    # running
    def run_job(self, job: Job) -> None:
        log_path = osp.join(self.root, 'logs', f'seed{job.seed}',
                            f'{job.name}.log')
        os.makedirs(osp.dirname(log_path), exist_ok=True)
        env = dict(
            os.environ,
            OMP_NUM_THREADS='1',
            **self.env(),
            MKL_NUM_THREADS='1',
            PYTHONWARNINGS='ignore')
        try:
            with open(log_path, 'a', encoding='utf-8') as log:
                for label, argv in job.build():
                    argv = argv() if callable(argv) else argv
                    log.write(f'\n$ {" ".join(argv)}\n')
                    log.flush()
                    start = time.time()
                    proc = subprocess.run(
                        argv, cwd=REPO, env=env, stdout=log,
                        stderr=subprocess.STDOUT)
                    job.seconds[label] = round(time.time() - start, 2)
                    if proc.returncode != 0:
                        raise RuntimeError(f'{label} exited with '
                                           f'{proc.returncode} (see '
                                           f'{log_path})')
            result = job.finish(job.seconds)
            _write_json(result, self.result_path(job.seed, job.name))
            job.state = 'done'
            self.log(f'seed {job.seed} {job.name}: done in '
                     f'{sum(job.seconds.values()):.0f} s')
        except Exception as err:  # report and let the other jobs go on
            job.state = 'failed'
            self.log(f'seed {job.seed} {job.name}: FAILED: {err}')

    def run(self) -> int:
        jobs = self.jobs()
        for job in jobs:
            if osp.isfile(self.result_path(job.seed, job.name)):
                job.state = 'done'
        todo = [j for j in jobs if j.state == 'pending']
        self.log(f'{len(jobs)} runs, {len(jobs) - len(todo)} already done, '
                 f'{self.args.jobs} at a time')
        running: Dict[str, threading.Thread] = {}
        while True:
            for key in [k for k, t in running.items() if not t.is_alive()]:
                del running[key]
            pending = [j for j in todo if j.state == 'pending']
            if not pending and not running:
                break
            ready = [
                j for j in pending if all(osp.isfile(d) for d in j.deps)
            ]
            if not ready and not running:
                for job in pending:
                    self.log(f'seed {job.seed} {job.name}: BLOCKED (missing '
                             f'{[d for d in job.deps if not osp.isfile(d)]})')
                break
            while ready and len(running) < self.args.jobs:
                job = ready.pop(0)
                job.state = 'running'
                self.log(f'seed {job.seed} {job.name}: start')
                thread = threading.Thread(target=self.run_job, args=(job, ))
                thread.start()
                running[f'{job.seed}/{job.name}'] = thread
            time.sleep(2)
        failed = [j for j in todo if j.state != 'done']
        self.log(f'finished: {len(todo) - len(failed)} runs done, '
                 f'{len(failed)} failed or blocked')
        return 1 if failed else 0


def _resolve(path: str) -> str:
    """mmengine's ``last_checkpoint`` file holds the checkpoint's path."""
    if osp.basename(path) == 'last_checkpoint':
        with open(path, encoding='utf-8') as f:
            return f.read().strip()
    return path


def _read_json(path: str) -> dict:
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def _read_metrics(path: str) -> dict:
    return strip_prefix(_read_json(path))


def _write_json(obj: dict, path: str) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def prepare_data(data_root: str) -> None:
    """Unpack the CIFAR-10 JPEG archive into ``data_root`` if absent."""
    root = osp.join(REPO, data_root)
    if osp.isdir(osp.join(root, 'train')) and \
            osp.isdir(osp.join(root, 'test')):
        return
    if not osp.isfile(ARCHIVE):
        raise FileNotFoundError(f'{ARCHIVE} does not exist and {root} has no '
                                'train/ and test/ folders')
    os.makedirs(root, exist_ok=True)
    with tarfile.open(ARCHIVE) as tar:
        tar.extractall(root, filter='data')
    print(f'unpacked {ARCHIVE} into {root}')


# ----------------------------------------------------------- aggregation
def load_results(root: str) -> Dict[str, Dict[int, dict]]:
    """``{run name: {seed: result}}`` from ``root/results/seed*/``."""
    out: Dict[str, Dict[int, dict]] = {}
    base = osp.join(root, 'results')
    if not osp.isdir(base):
        return out
    for seed_dir in sorted(os.listdir(base)):
        if not seed_dir.startswith('seed'):
            continue
        seed = int(seed_dir[4:])
        for name in sorted(os.listdir(osp.join(base, seed_dir))):
            if name.endswith('.json'):
                out.setdefault(name[:-5], {})[seed] = _read_json(
                    osp.join(base, seed_dir, name))
    return out


def train_wall(result: dict) -> float:
    """Wall time of everything a run needs except its test pass: the
    training (baselines); the pipeline's steps up to refinement (OSDTW,
    Fisher statistics and search included); stage 1 + stage 2 + assembly
    + refinement (grid points)."""
    if result['method'] == 'osdtw':
        return float(sum(result['timings'].values()))
    sec = {k: v for k, v in result['seconds'].items() if k != 'test'}
    extra = result.get('stage1_s', 0.0) + result.get('stage2_s', 0.0)
    return float(sum(sec.values()) + extra)


def table_rows(results: Dict[str, Dict[int, dict]]) -> List[dict]:
    """Main-table rows: baselines, OSDTW (proxy choice and the pipeline's
    other models), grid points; metrics per seed."""
    rows = []
    for key, (label, _, _) in BASELINES.items():
        if key in results:
            rows.append(
                dict(
                    name=key,
                    label=label,
                    seeds=sorted(results[key]),
                    metrics=[r['metrics'] for r in results[key].values()],
                    wall=[train_wall(r) for r in results[key].values()]))
    osdtw = results.get('osdtw', {})
    if osdtw:
        chosen = [
            f"C={r['chosen']['shared_depth']}, "
            f"w_A={r['chosen']['head_weight']:.2f}" for r in osdtw.values()
        ]
        wall = [train_wall(r) for r in osdtw.values()]
        rows.append(
            dict(
                name='osdtw',
                label='OSDTW, proxy choice (' + '; '.join(chosen) + ')',
                seeds=sorted(osdtw),
                metrics=[r['metrics'] for r in osdtw.values()],
                wall=wall))
        for sub, label in ((ASSEMBLED_ROW, 'OSDTW proxy choice, '
                            'assembled, no refinement'),
                           (STAGE2_ROW, 'OSDTW stage 2 alone (joint '
                            'model at the chosen w_A)'),
                           (PAIR_ROW, 'OSDTW stage-1 pair '
                            '(C = 0, no sharing)')):
            metrics = [
                r['rows'][sub] for r in osdtw.values() if sub in r['rows']
            ]
            if metrics:
                rows.append(
                    dict(
                        name=sub,
                        label=label,
                        seeds=sorted(osdtw),
                        metrics=metrics,
                        wall=[]))
    grid = sorted((r['C'], r['w_A'], name) for name, by_seed in
                  results.items() if name.startswith('grid_')
                  for r in list(by_seed.values())[:1])
    for depth, weight, name in grid:
        by_seed = results[name]
        rows.append(
            dict(
                name=name,
                label=f'OSDTW grid C={depth}, w_A={weight:.2f}',
                seeds=sorted(by_seed),
                metrics=[r['metrics'] for r in by_seed.values()],
                wall=[train_wall(r) for r in by_seed.values()]))
    return rows


def grid_errors(results: Dict[str, Dict[int, dict]]
                ) -> Dict[int, Dict[Tuple[int, float], float]]:
    """Measured test error (100 - top-1) per seed and grid point."""
    out: Dict[int, Dict[Tuple[int, float], float]] = {}
    for name, by_seed in results.items():
        if name.startswith('grid_'):
            for seed, r in by_seed.items():
                out.setdefault(seed, {})[(r['C'], r['w_A'])] = \
                    100.0 - r['metrics']['top1']
    return out


def proxy_validation(results: Dict[str, Dict[int, dict]]) -> dict:
    """Spearman (proxy vs measured error over the grid) and regret of the
    proxy's choices, per mismatch variant, per seed and over the seed
    means."""
    errors = grid_errors(results)
    osdtw = results.get('osdtw', {})
    out = {}
    for mismatch in MISMATCHES:
        searches = results.get(f'search_{mismatch}', {})
        per_seed = {}
        for seed, errs in sorted(errors.items()):
            if seed not in searches or len(errs) < 3:
                continue
            search = dict(
                grid=dict(proxy=searches[seed]['proxy']),
                w_grid=searches[seed]['w_grid'])
            points = sorted(errs)
            proxy = {p: proxy_at(search, p[0], p[1]) for p in points}
            best = min(points, key=lambda p: errs[p])
            pick = proxy_grid_choice(proxy)
            chosen = searches[seed]['chosen']
            entry = dict(
                spearman=spearman([proxy[p] for p in points],
                                  [errs[p] for p in points]),
                spearman_within_C=spearman_within_depth(proxy, errs),
                n_points=len(points),
                best_point=list(best),
                best_error=errs[best],
                proxy_grid_choice=list(pick),
                proxy_grid_choice_error=errs[pick],
                regret_grid_choice=regret(errs, pick),
                search_choice=[chosen['C'], chosen['w_A']],
                distance_C=abs(chosen['C'] - best[0]),
                distance_w=abs(chosen['w_A'] - best[1]))
            if mismatch == PIPELINE_MISMATCH and seed in osdtw:
                err = 100.0 - osdtw[seed]['metrics']['top1']
                entry['search_choice_error'] = err
                entry['regret_search_choice'] = err / errs[best] - 1.0
            per_seed[seed] = entry
        if not per_seed:
            continue
        pooled = _pooled_validation(errors, searches, list(per_seed))
        out[mismatch] = dict(per_seed=per_seed, seed_mean=pooled)
    return out


def _pooled_validation(errors, searches, seeds) -> dict:
    """Spearman and regret of the seed-averaged proxy and error."""
    points = sorted(set.intersection(*[set(errors[s]) for s in seeds]))
    mean_err = {
        p: sum(errors[s][p] for s in seeds) / len(seeds)
        for p in points
    }
    mean_proxy = {}
    for p in points:
        mean_proxy[p] = sum(
            proxy_at(
                dict(
                    grid=dict(proxy=searches[s]['proxy']),
                    w_grid=searches[s]['w_grid']), p[0], p[1])
            for s in seeds) / len(seeds)
    pick = proxy_grid_choice(mean_proxy)
    best = min(points, key=lambda p: mean_err[p])
    return dict(
        seeds=seeds,
        spearman=spearman([mean_proxy[p] for p in points],
                          [mean_err[p] for p in points]),
        spearman_within_C=spearman_within_depth(mean_proxy, mean_err),
        best_point=list(best),
        proxy_grid_choice=list(pick),
        regret_grid_choice=regret(mean_err, pick),
        mean_error=[[p[0], p[1], mean_err[p]] for p in points],
        mean_proxy=[[p[0], p[1], mean_proxy[p]] for p in points])


def markdown_table(rows: List[dict], expected_seeds: int) -> str:
    """The main table as Markdown (mean ± std over seeds)."""
    head = ('| method | seeds | top-1 | head classes | tail classes | Many | '
            'Medium | Few | training wall time (s) |')
    lines = [head, '|---|---|---|---|---|---|---|---|---|']
    for row in rows:
        cells = [
            format_mean_std([m.get(k) for m in row['metrics']])
            for k in ('top1', 'head_acc', 'tail_acc', 'many', 'medium', 'few')
        ]
        wall = format_mean_std(row['wall'], 0) if row['wall'] else '(shared)'
        seeds = str(len(row['seeds']))
        if len(row['seeds']) < expected_seeds:
            seeds += ' (incomplete)'
        lines.append(f"| {row['label']} | {seeds} | " + ' | '.join(cells) +
                     f' | {wall} |')
    return '\n'.join(lines)


def validation_markdown(validation: dict) -> str:
    """Proxy-validation summary as Markdown."""
    lines = [
        '| mismatch | seed | Spearman(proxy, error) | within-C Spearman | '
        'grid best (C, w_A) | proxy grid choice | its regret | '
        'search choice (C, w_A) | dist. C | dist. w_A |',
        '|---|---|---|---|---|---|---|---|---|---|'
    ]
    for mismatch, val in validation.items():
        for seed, e in val['per_seed'].items():
            lines.append(
                f'| {mismatch} | {seed} | {e["spearman"]:.2f} | '
                f'{e["spearman_within_C"]:.2f} | '
                f'({e["best_point"][0]}, {e["best_point"][1]:.2f}) | '
                f'({e["proxy_grid_choice"][0]}, '
                f'{e["proxy_grid_choice"][1]:.2f}) | '
                f'{100 * e["regret_grid_choice"]:.1f} % | '
                f'({e["search_choice"][0]}, {e["search_choice"][1]:.2f}) | '
                f'{e["distance_C"]} | {e["distance_w"]:.2f} |')
        p = val['seed_mean']
        lines.append(f'| {mismatch} | mean of {len(p["seeds"])} | '
                     f'{p["spearman"]:.2f} | {p["spearman_within_C"]:.2f} | '
                     f'({p["best_point"][0]}, '
                     f'{p["best_point"][1]:.2f}) | '
                     f'({p["proxy_grid_choice"][0]}, '
                     f'{p["proxy_grid_choice"][1]:.2f}) | '
                     f'{100 * p["regret_grid_choice"]:.1f} % | | | |')
    return '\n'.join(lines)


def plot_per_class(results: Dict[str, Dict[int, dict]], path: str,
                   imb_ratio: int = DEFAULT_IMB_RATIO) -> bool:
    """Per-class test accuracy against training count (log x)."""
    curves = []
    for key, label in (('ce', 'CE'), ('bal-bce', 'Bal-BCE'),
                       ('osdtw', 'OSDTW (proxy choice)')):
        per = [
            r['metrics']['per_class_acc']
            for r in results.get(key, {}).values()
            if 'per_class_acc' in r['metrics']
        ]
        if per:
            curves.append((label, per))
    if not curves:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    counts = cifar_lt_counts(imb_ratio=imb_ratio)
    fig = Figure(figsize=(6.5, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for label, per in curves:
        stats = [mean_std([p[c] for p in per]) for c in range(len(counts))]
        ax.errorbar(
            counts, [s[0] for s in stats],
            yerr=[s[1] for s in stats],
            marker='o',
            capsize=3,
            label=f'{label} ({len(per)} seeds)')
    ax.set_xscale('log')
    for threshold, text in ((FEW_THR, f'Few < {FEW_THR} | Medium'),
                            (MANY_THR, f'Medium | Many > {MANY_THR}')):
        ax.axvline(threshold, color='grey', linestyle=':', linewidth=1)
        ax.text(threshold, 1.0, text, transform=ax.get_xaxis_transform(),
                ha='center', va='bottom', fontsize=7, color='dimgrey')
    ax.set_xlabel('training images of the class (log scale)')
    ax.set_ylabel('test accuracy of the class (%)')
    ax.set_title(f'CIFAR-10-LT (IR {imb_ratio}): per-class accuracy, '
                 'mean ± std', pad=14)
    ax.legend(fontsize='small')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def plot_heatmaps(validation: dict, path: str) -> bool:
    """Measured grid accuracy next to the proxy (each mismatch variant),
    seed means, on the grid points."""
    if not validation:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    from matplotlib.patheffects import withStroke
    outline = withStroke(linewidth=2, foreground='white')
    first = next(iter(validation.values()))['seed_mean']
    depths = sorted({p[0] for p in first['mean_error']})
    weights = sorted({p[1] for p in first['mean_error']})

    def matrix(entries):
        vals = {(p[0], p[1]): p[2] for p in entries}
        return [[vals.get((c, w), float('nan')) for w in weights]
                for c in depths]

    panels = [('measured top-1 (%)',
               [[100 - v for v in row] for row in matrix(first['mean_error'])],
               'viridis', True)]
    for mismatch, val in validation.items():
        panels.append((f'proxy ({mismatch})',
                       matrix(val['seed_mean']['mean_proxy']), 'viridis_r',
                       False))
    fig = Figure(figsize=(3.6 * len(panels), 3.4))
    FigureCanvasAgg(fig)
    for i, (title, mat, cmap, high_good) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        image = ax.imshow(mat, origin='lower', cmap=cmap, aspect='auto')
        fig.colorbar(image, ax=ax, fraction=0.046)
        flat = [(v, r, c) for r, row in enumerate(mat)
                for c, v in enumerate(row) if math.isfinite(v)]
        best = max(flat) if high_good else min(flat)
        ax.add_patch(
            Rectangle((best[2] - 0.5, best[1] - 0.5), 1, 1, fill=False,
                      edgecolor='red', linewidth=2.5))
        for r, row in enumerate(mat):
            for c, v in enumerate(row):
                text = f'{v:.1f}' if high_good else f'{v:.3g}'
                ax.text(c, r, text, ha='center', va='center', fontsize=7,
                        color='black', path_effects=[outline])
        ax.set_xticks(range(len(weights)))
        ax.set_xticklabels([f'{w:.2f}' for w in weights])
        ax.set_yticks(range(len(depths)))
        ax.set_yticklabels([str(c) for c in depths])
        ax.set_xlabel('w_A')
        ax.set_ylabel('C')
        ax.set_title(title, fontsize=9)
    fig.suptitle('OSDTW grid, mean over seeds (red frame: best measured '
                 'cell / proxy argmin)',
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def aggregate(args: argparse.Namespace) -> int:
    """Write accuracy.json, the plots and the tables (accuracy_tables.md)
    from whatever results exist."""
    root = osp.abspath(args.work_dir)
    results = load_results(root)
    if not results:
        print(f'no results under {root}/results', file=sys.stderr)
        return 2
    os.makedirs(args.out_dir, exist_ok=True)
    rows = table_rows(results)
    validation = proxy_validation(results)
    per_class = plot_per_class(
        results, osp.join(args.out_dir, 'accuracy_per_class.png'),
        args.imb_ratio)
    heat = plot_heatmaps(validation,
                         osp.join(args.out_dir, 'accuracy_grid_heatmaps.png'))
    summary = dict(
        imb_ratio=args.imb_ratio,
        rows=[
            dict(
                name=r['name'],
                label=r['label'],
                seeds=r['seeds'],
                **{
                    k: mean_std([m.get(k) for m in r['metrics']])[:2]
                    for k in METRIC_KEYS
                },
                wall_s=mean_std(r['wall'])[:2] if r['wall'] else None)
            for r in rows
        ],
        proxy_validation={
            m: dict(
                per_seed={str(s): e
                          for s, e in v['per_seed'].items()},
                seed_mean=v['seed_mean'])
            for m, v in validation.items()
        },
        results=results)
    _write_json(summary, osp.join(args.out_dir, 'accuracy.json'))
    tables = [f'## Accuracy, imbalance ratio {args.imb_ratio} (test split, '
              '%; mean ± std over seeds)', '',
              markdown_table(rows, args.expected_seeds), '']
    if validation:
        tables += ['## Proxy validation', '', validation_markdown(validation),
                   '']
    if per_class:
        tables.append('![per-class accuracy](accuracy_per_class.png)')
    if heat:
        tables.append('![grid heat maps](accuracy_grid_heatmaps.png)')
    text = '\n'.join(tables) + '\n'
    with open(osp.join(args.out_dir, 'accuracy_tables.md'), 'w',
              encoding='utf-8') as f:
        f.write(text)
    print(text)
    return 0


def replot(args: argparse.Namespace) -> int:
    """Redraw the two plots from an ``accuracy.json`` that ``aggregate``
    wrote (next to it), without the runs."""
    summary = _read_json(args.summary)
    out_dir = osp.dirname(osp.abspath(args.summary))
    imb_ratio = summary.get('imb_ratio', DEFAULT_IMB_RATIO)
    if 'imb_ratio' not in summary and osp.basename(out_dir).startswith('ir'):
        imb_ratio = int(osp.basename(out_dir)[2:])  # older summaries
    plot_per_class(summary['results'],
                   osp.join(out_dir, 'accuracy_per_class.png'), imb_ratio)
    plot_heatmaps(summary['proxy_validation'],
                  osp.join(out_dir, 'accuracy_grid_heatmaps.png'))
    print(f'redrew the plots in {out_dir}')
    return 0


# ----------------------------------------------------------- command line
def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True)
    for name in ('run', 'aggregate'):
        p = sub.add_parser(name)
        p.add_argument(
            '--imb-ratio',
            type=int,
            default=DEFAULT_IMB_RATIO,
            help='imbalance ratio of the training split (default 100)')
        p.add_argument(
            '--arch',
            choices=list(ARCHS),
            default='mini',
            help='ViT size: mini (the CPU run, default) or small (ViT-S)')
        p.add_argument(
            '--epochs',
            type=int,
            default=DEFAULT_EPOCHS,
            help='epochs per training run (default 3; refinement: a third)')
        p.add_argument(
            '--workers',
            type=int,
            default=0,
            help='data-loading worker processes per run (default 0)')
        p.add_argument(
            '--amp',
            action='store_true',
            help='mixed-precision training (tools/train.py --amp; CUDA)')
        p.add_argument(
            '--work-dir',
            default=None,
            help='runs and results (default work_dirs/benchmark_cifar10_lt, '
            'with _ir<R> appended for another --imb-ratio)')
        p.add_argument(
            '--out-dir',
            default=None,
            help='where aggregate writes (default docs/benchmarks, with '
            '/ir<R> appended for another --imb-ratio)')
        p.add_argument(
            '--expected-seeds',
            type=int,
            default=3,
            help='rows with fewer seeds are marked incomplete')
    redraw = sub.add_parser(
        'replot', help='redraw the plots from an accuracy.json')
    redraw.add_argument('summary', help='an accuracy.json of aggregate')
    run = sub.choices['run']
    run.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    run.add_argument(
        '--methods',
        nargs='+',
        default=list(BASELINES) + ['osdtw'],
        choices=list(BASELINES) + ['osdtw'])
    run.add_argument(
        '--depths',
        type=int,
        nargs='+',
        default=None,
        help='grid depths C (default: 1 2 4 for --arch mini, 3 6 12 for '
        'small)')
    run.add_argument(
        '--weights', type=float, nargs='+', default=[0.3, 0.5, 0.7])
    run.add_argument(
        '--no-grid',
        dest='grid',
        action='store_false',
        help='skip the (C, w_A) grid')
    run.add_argument(
        '--jobs', type=int, default=2, help='runs at a time (default 2)')
    run.add_argument(
        '--smoke-epochs',
        type=int,
        default=None,
        help='train every run (refinement included) for this many epochs '
        '(>= 2), for smoke tests; default: the configs\' epochs')
    run.add_argument(
        '--data-root',
        default='data/cifar10',
        help='CIFAR-10 JPEG folders, relative to the repository')
    run.add_argument(
        '--no-aggregate',
        dest='aggregate',
        action='store_false',
        help='do not aggregate at the end')
    args = parser.parse_args(argv)
    if args.command == 'replot':
        return args
    if args.imb_ratio < 1:
        parser.error(f'--imb-ratio must be >= 1, got {args.imb_ratio}')
    if args.epochs < 2:
        parser.error('--epochs must be >= 2 (one warm-up epoch, then the '
                     'cosine schedule)')
    if args.workers < 0:
        parser.error(f'--workers must be >= 0, got {args.workers}')
    if args.command == 'run':
        layers = ARCHS[args.arch]['env']['LAYERS']
        if args.depths is None:
            args.depths = list(ARCHS[args.arch]['depths'])
        bad = [c for c in args.depths if not 0 <= c <= layers]
        if bad:
            parser.error(f'--depths {bad[0]} is outside 0..{layers} (the '
                         f'{args.arch} ViT has {layers} blocks)')
    parts = []
    if args.imb_ratio != DEFAULT_IMB_RATIO:
        parts.append(f'ir{args.imb_ratio}')
    if args.arch != 'mini':
        parts.append(args.arch)
    if args.epochs != DEFAULT_EPOCHS:
        parts.append(f'e{args.epochs}')
    if args.amp:
        parts.append('amp')
    suffix = '_'.join(parts)
    if args.work_dir is None:
        args.work_dir = 'work_dirs/benchmark_cifar10_lt' + (
            f'_{suffix}' if suffix else '')
    if args.out_dir is None:
        args.out_dir = osp.join('docs', 'benchmarks', suffix) if suffix \
            else osp.join('docs', 'benchmarks')
    if args.command == 'run' and args.smoke_epochs is not None and \
            args.smoke_epochs < 2:
        parser.error('--smoke-epochs must be >= 2 (one warm-up epoch, then '
                     'the cosine schedule)')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    os.chdir(REPO)
    if args.command == 'aggregate':
        return aggregate(args)
    if args.command == 'replot':
        return replot(args)
    prepare_data(args.data_root)
    code = Benchmark(args).run()
    if args.aggregate:
        aggregate(args)
    return code


if __name__ == '__main__':
    sys.exit(main())
