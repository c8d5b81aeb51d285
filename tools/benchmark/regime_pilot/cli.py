"""Command line of the regime pilot.

::

    python -m tools.benchmark.regime_pilot list
    python -m tools.benchmark.regime_pilot run --jobs 2 \\
        --mgp-from p8_d96_m200=work_dirs/converged/ir100/mgp
    python -m tools.benchmark.regime_pilot run --variants p4_e40 p8_d128_e40
    python -m tools.benchmark.regime_pilot aggregate
    OMP_NUM_THREADS=1 python -m tools.benchmark.regime_pilot screen \
        --variants p8_d96_m200_e40 p4_d96_m200_e40 p8_d128_m200_e40
    python -m tools.benchmark.regime_pilot run --skip-unfit --variants ...

Each variant is a setting of the converged driver (``Settings``:
``--methods bal-bce la-ce --seeds 0`` with the variant's patch size,
width, MGP epochs and epochs), run under ``<work-root>/<variant>``; its
MGP under ``<work-root>/mgp/<p_d_m>``, shared by the variants that differ
only in fine-tuning epochs. ``run`` runs every job whose result JSON is
missing (rerun it after an interruption: it continues), MGP runs alone on
both threads; it aggregates after every finished job and at the end.
Result JSONs go to ``<out>/<variant>/runs`` (default
``docs/benchmarks/regime_pilot``; commit them as they finish), the
aggregate to ``<out>/<variant>/result.json``, ``<out>/summary.json``
and ``<out>/tables.md``. ``screen`` (:mod:`.screen`) estimates each variant's
protocol from the throughput of its model relative to a finished reference
variant, without training, into ``<out>/screen.json`` (a section of the
tables); ``run --skip-unfit`` then leaves out the variants it finds over
the budget.
"""
import argparse
import dataclasses
import json
import os
import os.path as osp
import sys
import threading
import time
from typing import Dict, List, Optional, Tuple

from mmpretrain_osdtw.utils import atomic_json_dump, atomic_write_text
from ..common.plan import refine_epochs
from ..converged.execute import Executor, pending_jobs
from ..converged.jobs import Job, Protocol, Settings
from ..converged.results import counts_of, load_runs
from .pilot import (BUDGET_H, DEFAULT_VARIANTS, METHODS, Variant,
                    calibration_of, choose, convergence_pairs,
                    markdown_tables, parse_variants, unit_costs,
                    variant_record)
from .screen import arch_of, arch_rates, screen_record, screen_table

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
#: The finished protocol the estimates are calibrated on (the converged
#: benchmark in today's regime).
CALIBRATION_RUN = osp.join('docs', 'benchmarks', 'converged', 'ir100')
CALIBRATION_EPOCHS = 20


def parse_mgp_from(text: str) -> Tuple[str, str]:
    """``'p8_d96_m200=DIR'`` -> ``('p8_d96_m200', 'DIR')``."""
    name, sep, folder = text.partition('=')
    parts = name.split('_')
    if not sep or not folder or len(parts) != 3 or [p[:1] for p in parts] \
            != ['p', 'd', 'm'] or not all(p[1:].isdigit() for p in parts):
        raise argparse.ArgumentTypeError(
            f'--mgp-from takes p<P>_d<D>_m<M>=<MGP work dir>, got {text!r}')
    return name, folder


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description='The regime pilot of the converged CIFAR-10-LT '
        'benchmark (issue 18): Bal-BCE and LA-CE in each candidate regime, '
        'chosen on validation top-1 within the protocol budget',
        epilog='Rule: the chosen regime is the finished variant with the '
        'highest mean validation top-1 of Bal-BCE and LA-CE among those '
        'whose estimated wall time of the whole protocol (3 seeds of the '
        'main table, one w_A sweep and grid, MGP once, 2 jobs; from the '
        'measured throughput) is at most --budget-h (15 h); test top-1 is '
        'reported, never used. See docs/benchmarks/regime_pilot.md.')
    sub = parser.add_subparsers(dest='command', required=True)
    for name in ('run', 'aggregate', 'list', 'screen'):
        p = sub.add_parser(name)
        p.add_argument(
            '--variants',
            nargs='+',
            default=list(DEFAULT_VARIANTS),
            metavar='VARIANT',
            help='regimes as p<patch>_d<dims>_m<MGP epochs>_e<epochs> '
            '(a part left out is the default: p8 d96 m200 e20), in priority '
            'order; default: ' + ' '.join(DEFAULT_VARIANTS))
        p.add_argument('--seed', type=int, default=0)
        p.add_argument('--imb-ratio', type=int, default=100)
        p.add_argument(
            '--budget-h',
            type=float,
            default=BUDGET_H,
            help='wall-time budget of the whole protocol, hours (default '
            '15)')
        p.add_argument(
            '--mgp-from',
            type=parse_mgp_from,
            nargs='+',
            default=[],
            metavar='MGP=DIR',
            help='take the MGP run of a p<P>_d<D>_m<M> from an existing '
            'work dir (e.g. p8_d96_m200=work_dirs/converged/ir100/mgp, '
            "today's checkpoint) instead of <work-root>/mgp/<MGP>")
        p.add_argument(
            '--calibrate-on',
            default=CALIBRATION_RUN,
            help='a finished converged benchmark (its output folder) that '
            'calibrates the estimates; "none": no calibration')
        p.add_argument('--work-root',
                       default=osp.join('work_dirs', 'regime_pilot'))
        p.add_argument('--out',
                       default=osp.join('docs', 'benchmarks', 'regime_pilot'))
    run = sub.choices['run']
    run.add_argument(
        '--jobs',
        type=int,
        default=2,
        help='CPU threads in use at once (default 2; MGP takes 2 and runs '
        'alone); <work-root>/jobs, while it holds a number, replaces it')
    run.add_argument('--no-aggregate', dest='aggregate',
                     action='store_false')
    run.add_argument(
        '--skip-unfit',
        action='store_true',
        help='leave out the variants whose throughput screen '
        '(<out>/screen.json) estimates the protocol over --budget-h')
    screen = sub.choices['screen']
    screen.add_argument(
        '--reference',
        help='a finished variant whose measured unit costs are scaled '
        '(default: the first finished one of --variants)')
    screen.add_argument('--rounds', type=int, default=3)
    screen.add_argument('--batch-size', type=int, default=128)
    return parser


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.variants = parse_variants(args.variants)
    except ValueError as err:
        parser.error(str(err))
    if args.imb_ratio < 1:
        parser.error(f'--imb-ratio must be >= 1, got {args.imb_ratio}')
    args.mgp_from = dict(args.mgp_from)
    if args.command == 'screen':
        if args.rounds < 1 or args.batch_size < 1:
            parser.error('--rounds and --batch-size must be >= 1')
        if args.reference is not None:
            try:
                args.reference = parse_variants([args.reference])[0]
            except ValueError as err:
                parser.error(str(err))
    return args


def settings_of(variant: Variant, args: argparse.Namespace) -> Settings:
    """The converged setting of a variant: Bal-BCE and LA-CE on one seed,
    its own work root and output folder, the shared MGP dir."""
    mgp = args.mgp_from.get(
        variant.mgp_name,
        osp.join(args.work_root, 'mgp', variant.mgp_name))
    return Settings(
        work_root=osp.join(args.work_root, variant.name),
        out_dir=osp.join(args.out, variant.name),
        seeds=[args.seed],
        ablation_seeds=[args.seed],
        imb_ratio=args.imb_ratio,
        epochs=variant.epochs,
        refine_epochs=refine_epochs(variant.epochs),
        mgp_epochs=variant.mgp_epochs,
        methods=list(METHODS),
        patch_size=variant.patch_size,
        embed_dims=variant.embed_dims,
        mgp_root=mgp)


def pilot_jobs(variants: List[Variant], args: argparse.Namespace
               ) -> Tuple[List[Job], Dict[str, str]]:
    """Every variant's jobs for one executor, each renamed
    ``<variant>/<name>`` (keys unique across variants), and the result path
    of each key (the variant's converged result path). Order: per MGP run
    (in the order of the variants that need it) its MGP jobs (the first
    trains, the others find the checkpoint), then the fine-tunings of the
    variants that share it: the threads stay busy with fine-tunings."""
    groups: Dict[str, List[Variant]] = {}
    for variant in variants:
        groups.setdefault(variant.mgp_name, []).append(variant)
    jobs: List[Job] = []
    paths: Dict[str, str] = {}
    for group in groups.values():
        mgp, tuning = [], []
        for variant in group:
            protocol = Protocol(settings_of(variant, args))
            for job in protocol.jobs():
                path = protocol.result_path(job)
                job = dataclasses.replace(job,
                                          name=f'{variant.name}/{job.name}')
                paths[job.key] = path
                (mgp if job.kind == 'mgp' else tuning).append(job)
        jobs += mgp + tuning
    return jobs, paths


def calibration_for(args: argparse.Namespace) -> Optional[dict]:
    """:func:`~.pilot.calibration_of` the ``--calibrate-on`` run (None
    for ``none`` or an unfinished run)."""
    if args.calibrate_on == 'none':
        return None
    return calibration_of(load_runs(args.calibrate_on), CALIBRATION_EPOCHS,
                          sum(counts_of(100)))


def screen_path(args: argparse.Namespace) -> str:
    return osp.join(args.out, 'screen.json')


def screen(args: argparse.Namespace) -> str:
    """Measure the variants' throughput against the reference (one
    interleaved run on torch's threads), write ``<out>/screen.json``,
    re-aggregate; return the screen's table."""
    import torch

    from ..common.timing import machine_info
    train_size = sum(counts_of(args.imb_ratio))
    reference = args.reference
    if reference is None:
        for variant in args.variants:
            if unit_costs(load_runs(osp.join(args.out, variant.name)),
                          epochs=variant.epochs) is not None:
                reference = variant
                break
        if reference is None:
            raise ValueError('screen: no variant of --variants has '
                             'finished (its MGP, Bal-BCE and LA-CE runs '
                             f'under {args.out}); give --reference')
    costs = unit_costs(load_runs(osp.join(args.out, reference.name)),
                       epochs=reference.epochs)
    if costs is None:
        raise ValueError(f'screen: the reference {reference.name} has not '
                         f'finished (its runs under {args.out})')
    calibration = calibration_for(args)
    ratio = 1.0 if calibration is None else calibration['ratio']
    archs = [arch_of(reference)] + [arch_of(v) for v in args.variants]
    threads = torch.get_num_threads()
    rates = arch_rates(archs, args.batch_size, args.rounds)
    records = [
        screen_record(v, costs, reference, rates, train_size, ratio,
                      args.budget_h) for v in args.variants
    ]
    result = dict(
        command='OMP_NUM_THREADS=1 python -m tools.benchmark.regime_pilot '
        'screen --variants ' + ' '.join(v.name for v in args.variants),
        machine=machine_info(threads),
        rounds=args.rounds,
        batch_size=args.batch_size,
        reference=reference.name,
        reference_costs=costs,
        calibration=ratio,
        budget_h=args.budget_h,
        rates={f'p{p}_d{d}': r
               for (p, d), r in rates.items()},
        variants=records)
    os.makedirs(args.out, exist_ok=True)
    atomic_json_dump(result, screen_path(args))
    aggregate(args)
    return screen_table(result)


def load_screen(args: argparse.Namespace) -> Optional[dict]:
    path = screen_path(args)
    if not osp.isfile(path):
        return None
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def unfit_variants(args: argparse.Namespace) -> Dict[str, float]:
    """``{variant: estimated h}`` of the screened variants over the
    budget (none without a screen)."""
    got = load_screen(args)
    if got is None:
        return {}
    return {
        r['variant']: r['estimate_h']['total']
        for r in got['variants'] if r['estimate_h']['total'] > args.budget_h
    }


def aggregate(args: argparse.Namespace) -> str:
    """Write each variant's ``result.json``, ``summary.json`` and
    ``tables.md`` from the result JSONs that exist (and the screen's
    section when ``<out>/screen.json`` exists); return the tables."""
    train_size = sum(counts_of(args.imb_ratio))
    calibration = calibration_for(args)
    ratio = 1.0 if calibration is None else calibration['ratio']
    records = []
    for variant in args.variants:
        out = osp.join(args.out, variant.name)
        record = variant_record(variant, load_runs(out), args.seed,
                                train_size, ratio)
        records.append(record)
        if osp.isdir(out):
            atomic_json_dump(record, osp.join(out, 'result.json'))
    chosen, reason = choose(records, args.budget_h)
    body = markdown_tables(records, chosen, reason, calibration,
                           args.budget_h) + '\n'
    screened = load_screen(args)
    if screened is not None:
        body += '\n' + screen_table(screened) + '\n'
    os.makedirs(args.out, exist_ok=True)
    atomic_json_dump(
        dict(
            rule='the highest mean validation top-1 of Bal-BCE and LA-CE '
            'among the finished variants whose estimated protocol wall time '
            f'is at most {args.budget_h:g} h (test top-1 never used)',
            budget_h=args.budget_h,
            chosen=chosen,
            reason=reason,
            calibration=calibration,
            variants=records,
            convergence=convergence_pairs(records)),
        osp.join(args.out, 'summary.json'))
    atomic_write_text(body, osp.join(args.out, 'tables.md'))
    return body


class PilotExecutor(Executor):
    """The converged executor that aggregates after every finished job
    (each variant's ``result.json`` and the tables follow the runs)."""

    def __init__(self, *args, after_job=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.after_job = after_job
        self.aggregate_lock = threading.Lock()

    def run_one(self, job: Job) -> None:
        super().run_one(job)
        if self.after_job is not None and self.state.get(job.key) == 'done':
            with self.aggregate_lock:
                try:
                    self.after_job()
                except Exception as err:  # the runs go on
                    self.log(f'aggregate after {job.key} failed: {err}')


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    os.chdir(REPO)
    if args.command == 'screen':
        try:
            print(screen(args))
        except ValueError as err:
            print(f'error: {err}', file=sys.stderr)
            return 2
        return 0
    to_run = args.variants  # the tables keep every variant
    if args.command == 'run' and args.skip_unfit:
        unfit = unfit_variants(args)
        for name, hours in unfit.items():
            print(f'skipped {name}: its protocol is estimated at '
                  f'{hours:.1f} h > {args.budget_h:g} h (screen.json)')
        to_run = [v for v in args.variants if v.name not in unfit]
    jobs, paths = pilot_jobs(to_run, args)

    def result_path(job: Job) -> str:
        return paths[job.key]

    if args.command == 'list':
        todo = {j.key for j in pending_jobs(jobs, result_path)}
        for job in jobs:
            state = 'todo' if job.key in todo else 'done'
            print(f'{state}  {job.key}  deps={list(job.deps)}')
        return 0
    if args.command == 'aggregate':
        print(aggregate(args))
        return 0
    os.makedirs(args.out, exist_ok=True)
    atomic_json_dump(
        dict(argv=sys.argv, started=time.strftime('%Y-%m-%d %H:%M:%S')),
        osp.join(args.out, 'last_run.json'))
    root = osp.abspath(args.work_root)
    code = PilotExecutor(
        jobs,
        result_path,
        osp.join(root, 'logs'),
        args.jobs, {},
        cwd=REPO,
        slots_file=osp.join(root, 'jobs'),
        after_job=(lambda: aggregate(args)) if args.aggregate else None).run()
    if args.aggregate:
        print(aggregate(args))
    return code
