"""Command line of the converged benchmark.

::

    python -m tools.benchmark.converged run --seeds 0 1 2 --jobs 2
    python -m tools.benchmark.converged aggregate
    python -m tools.benchmark.converged run --imb-ratio 50
    python -m tools.benchmark.converged run --class-order 9,8,7,6,5,4,3,2,1,0
    python -m tools.benchmark.converged run --patch-size 4 --embed-dims 128 \
        --mgp-epochs 400 --epochs 40

The ViT's size reaches every command of the protocol: ``--patch-size P``
(divides 32: a (32/P)^2 token grid) and ``--embed-dims D`` (a multiple of
32: D/32 heads of 32 dims, MLP 4D) set the backbone and head of every
fine-tuning config (the pipeline's stages through
``train_cfg.per_stage_cfg_options``) and MGP's backbone, decoder and head;
``--mgp-epochs`` and ``--epochs`` set the schedules.

``run`` runs every job whose result JSON is missing (rerun it after an
interruption: it continues), then aggregates. Runs go under
``--work-root`` (default ``work_dirs/converged/<tag>``, MGP in its ``mgp``
folder), the per-run result JSONs to ``--out/runs`` (default
``docs/benchmarks/converged/<tag>``, to commit as they finish) and the
aggregate next to them (``summary.json``, ``tables.md``, plots). ``<tag>``
is ``ir<R>``, plus ``_order<...>`` for another class order, then
``_p<P>``, ``_d<D>``, ``_m<M>`` and ``_e<E>`` for a patch size, width, MGP
epochs and epochs that are not the default (8, 96, 200, 20), e.g.
``ir100_p4_d128_m400_e40``.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
from typing import List, Optional

from mmpretrain_osdtw.utils import atomic_json_dump, atomic_write_text
from .execute import Executor, pending_jobs
from .comparison import markdown_paired, paired_rows, row_costs
from .jobs import (PIPELINES, COST_JOB, ENSEMBLE_METHODS, ENSEMBLE_PREFIX,
                   DEFAULT_EMBED_DIMS, DEFAULT_PATCH_SIZE, HEAD_DIMS,
                   IMG_SIZE, METHODS, MISMATCHES, NUM_LAYERS,
                   DISPLACEMENT_SEARCH,
                   SGD_NOISE_SEARCH, SGD_SEARCHES, Job,
                   Protocol, Settings, check_names_unique)
from .plots import plot_curves, plot_grid, plot_grid_across_seeds
from .results import (ablation_summary, grid_across_seeds, load_runs,
                      main_rows, markdown_grid_across_seeds,
                      markdown_ablation, markdown_layer_mismatch,
                      markdown_main_table, mean_std, chosen_cell_runs)
from .variants import (cell_spread, choosing_costs, evaluate_variants,
                       markdown_variants)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
DEFAULT_EPOCHS = 20
DEFAULT_MGP_EPOCHS = 200
#: The main-table row of the second-seed calibration read off the grids.
SECOND_SEED_VARIANT = 'sgd-scale'
SECOND_SEED_ROW = 'osdtw_second_seed_grid'
SECOND_SEED_LABEL = ("OSDTW, N from a second seed (the default since issue "
                     "17; its seed's grid cell)")


def parse_class_order(text: Optional[str]) -> Optional[List[int]]:
    """``'9,8,...,0'`` or ``'reversed'`` -> a list (None: label order)."""
    if text is None or text == 'label':
        return None
    if text == 'reversed':
        return list(range(9, -1, -1))
    try:
        order = [int(c) for c in text.split(',')]
    except ValueError:
        order = []
    if sorted(order) != list(range(10)):
        raise argparse.ArgumentTypeError(
            f'--class-order must be a permutation of 0..9 (comma-separated) '
            f'or "reversed", got {text!r}')
    return order


def tag_of(imb_ratio: int,
           class_order: Optional[List[int]],
           epochs: int,
           patch_size: int = DEFAULT_PATCH_SIZE,
           embed_dims: int = DEFAULT_EMBED_DIMS,
           mgp_epochs: int = DEFAULT_MGP_EPOCHS) -> str:
    """The folder name of a setting, e.g. ``ir100``, ``ir50_order9876543210``,
    ``ir100_e2``, ``ir100_p4_d128_m400_e40`` (a part only for a value that
    is not the default).

    Example:
        >>> tag_of(100, None, 40, patch_size=4, mgp_epochs=400)
        'ir100_p4_m400_e40'
    """
    tag = f'ir{imb_ratio}'
    if class_order is not None:
        tag += '_order' + ''.join(str(c) for c in class_order)
    if patch_size != DEFAULT_PATCH_SIZE:
        tag += f'_p{patch_size}'
    if embed_dims != DEFAULT_EMBED_DIMS:
        tag += f'_d{embed_dims}'
    if mgp_epochs != DEFAULT_MGP_EPOCHS:
        tag += f'_m{mgp_epochs}'
    if epochs != DEFAULT_EPOCHS:
        tag += f'_e{epochs}'
    return tag


def check_vit_size(patch_size: int, embed_dims: int) -> Optional[str]:
    """Why a ViT size is not one the configs can take (None if it is):
    the patch must divide the 32 px image, the width must be a multiple of
    the 32-dim attention head."""
    if patch_size < 1 or IMG_SIZE % patch_size:
        return (f'--patch-size must divide {IMG_SIZE} (the image size), '
                f'got {patch_size}')
    if embed_dims < HEAD_DIMS or embed_dims % HEAD_DIMS:
        return (f'--embed-dims must be a positive multiple of {HEAD_DIMS} '
                f'(heads of {HEAD_DIMS} dims), got {embed_dims}')
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description='The converged CIFAR-10-LT benchmark (issue 11)')
    sub = parser.add_subparsers(dest='command', required=True)
    for name in ('run', 'aggregate', 'list'):
        p = sub.add_parser(name)
        p.add_argument('--imb-ratio', type=int, default=100)
        p.add_argument(
            '--class-order',
            type=parse_class_order,
            default=None,
            help='which class gets the most images: a permutation of 0..9 '
            '(the first gets n_max) or "reversed"; default label order')
        p.add_argument(
            '--epochs',
            type=int,
            default=DEFAULT_EPOCHS,
            help='epochs per training run (default 20; refinement: '
            '--refine-epochs)')
        p.add_argument(
            '--refine-epochs',
            type=int,
            default=None,
            help='decoder refinement epochs (default 30 %% of --epochs, '
            'at least 1: 6 for 20)')
        p.add_argument(
            '--mgp-epochs',
            type=int,
            default=DEFAULT_MGP_EPOCHS,
            help='MGP epochs (default 200)')
        p.add_argument(
            '--patch-size',
            type=int,
            default=DEFAULT_PATCH_SIZE,
            help='ViT patch size, MGP and fine-tuning (default 8: 16 tokens '
            'at 32 px; 4: 64 tokens); must divide 32')
        p.add_argument(
            '--embed-dims',
            type=int,
            default=DEFAULT_EMBED_DIMS,
            help='ViT width, MGP and fine-tuning (default 96); a multiple of '
            '32 (dims/32 heads, MLP 4 x dims)')
        p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
        p.add_argument(
            '--ablation-seeds',
            type=int,
            nargs='+',
            default=None,
            help='seeds of the w_A sweep and the grid (default: the first '
            'seed)')
        p.add_argument(
            '--methods',
            nargs='+',
            default=list(METHODS) + list(PIPELINES),
            choices=list(METHODS) + list(PIPELINES))
        p.add_argument(
            '--weights', type=float, nargs='+',
            default=[0.1, 0.3, 0.5, 0.7, 0.9])
        p.add_argument(
            '--depths', type=int, nargs='+', default=[0, 2, 4, 6])
        p.add_argument('--work-root', default=None)
        p.add_argument('--out', default=None)
    run = sub.choices['run']
    run.add_argument(
        '--jobs',
        type=int,
        default=2,
        help='CPU threads in use at once: single-thread runs at a time '
        '(MGP takes 2 and runs alone); default 2. While the file '
        '<work-root>/jobs holds a number, it replaces this one (read before '
        'each job starts)')
    run.add_argument('--no-aggregate', dest='aggregate',
                     action='store_false')
    run.add_argument(
        '--only',
        nargs='+',
        default=None,
        metavar='JOB',
        help='run only these jobs (their keys as "list" prints them, e.g. '
        'seed0/search_sgd-noise), beside a driver that runs the others')
    return parser


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.imb_ratio < 1:
        parser.error(f'--imb-ratio must be >= 1, got {args.imb_ratio}')
    if args.epochs < 2:
        parser.error('--epochs must be >= 2 (one warm-up epoch, then the '
                     'cosine schedule)')
    if args.mgp_epochs < 1:
        parser.error(f'--mgp-epochs must be >= 1, got {args.mgp_epochs}')
    bad_size = check_vit_size(args.patch_size, args.embed_dims)
    if bad_size:
        parser.error(bad_size)
    if args.refine_epochs is None:
        args.refine_epochs = max(1, round(0.3 * args.epochs))
    bad = [c for c in args.depths if not 0 <= c <= NUM_LAYERS]
    if bad:
        parser.error(f'--depths {bad[0]} is outside 0..{NUM_LAYERS}')
    if args.ablation_seeds is None:
        args.ablation_seeds = args.seeds[:1]
    tag = tag_of(args.imb_ratio, args.class_order, args.epochs,
                 args.patch_size, args.embed_dims, args.mgp_epochs)
    if args.work_root is None:
        args.work_root = osp.join('work_dirs', 'converged', tag)
    if args.out is None:
        args.out = osp.join('docs', 'benchmarks', 'converged', tag)
    return args


def settings_of(args: argparse.Namespace) -> Settings:
    return Settings(
        work_root=args.work_root,
        out_dir=args.out,
        seeds=list(args.seeds),
        ablation_seeds=list(args.ablation_seeds),
        imb_ratio=args.imb_ratio,
        class_order=args.class_order,
        epochs=args.epochs,
        refine_epochs=args.refine_epochs,
        mgp_epochs=args.mgp_epochs,
        weights=list(args.weights),
        depths=list(args.depths),
        methods=list(args.methods),
        patch_size=args.patch_size,
        embed_dims=args.embed_dims)


def vit_size(settings: Settings) -> dict:
    """The ViT's patch size and width, those that are not the default (the
    default setting's summary stays as it was)."""
    out = {}
    if settings.patch_size != DEFAULT_PATCH_SIZE:
        out['patch_size'] = settings.patch_size
    if settings.embed_dims != DEFAULT_EMBED_DIMS:
        out['embed_dims'] = settings.embed_dims
    return out


def vit_text(settings: Settings) -> str:
    """``', ViT patch 4, 128 dims'`` for a ViT that is not the default
    (else empty)."""
    size = vit_size(settings)
    if not size:
        return ''
    return (f', ViT patch {settings.patch_size}, {settings.embed_dims} dims, '
            f'MGP {settings.mgp_epochs} epochs')


#: The regime pilot's summary: its E-vs-2E convergence checks.
PILOT_SUMMARY = osp.join('docs', 'benchmarks', 'regime_pilot', 'summary.json')


def regime_name(settings: Settings) -> str:
    """The regime pilot's name of a setting (``p8_d96_m200_e40``)."""
    return (f'p{settings.patch_size}_d{settings.embed_dims}_'
            f'm{settings.mgp_epochs}_e{settings.epochs}')


def convergence_text(settings: Settings,
                     summary_path: str = PILOT_SUMMARY) -> str:
    """One paragraph under the main table: the regime pilot's check of
    this regime at twice the epochs (issue 18, item 2), when the pilot
    measured it at IR 100; '' otherwise."""
    if settings.imb_ratio != 100 or settings.class_order \
            or not osp.isfile(summary_path):
        return ''
    with open(summary_path, encoding='utf-8') as f:
        checks = json.load(f).get('convergence', [])
    name = regime_name(settings)
    check = next((c for c in checks if c['short'] == name
                  and c.get('converged') is not None), None)
    if check is None:
        return ''
    moves = ', '.join(
        f'{label} {check["methods"][m]["delta"]:+.1f}'
        for m, label in (('bal-bce', 'Bal-BCE'), ('la-ce', 'LA-CE')))
    verdict = ('converged: both move by less than 1 point'
               if check['converged'] else
               'NOT converged: the rule asks for less than 1 point each')
    return (f'Convergence of this regime (the regime pilot, seed 0, '
            f'[tables](../../regime_pilot/tables.md)): {check["long"]} '
            f'against {check["short"]} moves validation top-1 by {moves} '
            f'points; {verdict}.')


def pipeline_mismatch(osdtw: dict) -> str:
    """The mismatch estimate(s) the pipeline runs' searches used, as their
    results record it (``'a'`` or ``'a', 'b'``)."""
    used = sorted({r['search']['mismatch'] for r in osdtw.values()})
    return ', '.join(repr(m) for m in used)


def aggregate(settings: Settings, expected_seeds: int) -> str:
    """Write ``summary.json``, ``tables.md`` and the plots from the result
    JSONs that exist; return the tables' text."""
    out = settings.out_dir
    runs = load_runs(out)
    methods = [(m, METHODS[m][0]) for m in METHODS] + [
        (ENSEMBLE_PREFIX + m, f'2-model ensemble of {METHODS[m][0]}')
        for m in ENSEMBLE_METHODS
    ] + [(name, label) for name, (label, _) in PIPELINES.items()]
    ablation = ablation_summary(
        runs, MISMATCHES + tuple(
            name[len('search_'):]
            for name in list(SGD_SEARCHES.values()) + [DISPLACEMENT_SEARCH]))
    # the second-seed calibration, the pipeline's default since the
    # validation grids, read off each seed's grid (no pipeline run of it)
    second = chosen_cell_runs(runs, ablation, SECOND_SEED_VARIANT)
    if second:
        runs[SECOND_SEED_ROW] = second
        methods.append((SECOND_SEED_ROW, SECOND_SEED_LABEL))
    rows = main_rows(runs, methods)
    cost = runs.get(COST_JOB, {}).get(None)
    costs = row_costs(rows, cost)
    paired = [
        p for name in list(PIPELINES) + [SECOND_SEED_ROW]
        for p in paired_rows(rows, costs, name)
    ]
    mgp = runs.get('mgp', {}).get(None)
    curves = {r['label']: [runs[r['name']][s].get('curve', [])
                           for s in r['seeds']] for r in rows}
    osdtw = runs.get('osdtw', {})
    for step in ('stage1_head', 'stage1_tail', 'stage2', 'refine'):
        got = [r['curves'].get(step, []) for r in osdtw.values()]
        if any(got):
            curves[f'OSDTW {step}'] = got
    plot_curves(curves, osp.join(out, 'curves.png'))
    text = [
        f'# Converged CIFAR-10-LT benchmark: IR {settings.imb_ratio}, class '
        f'order {settings.class_order or "label order"}, {settings.epochs} '
        f'epochs per training run ({settings.refine_epochs} refinement)' +
        vit_text(settings), '',
        'Test set (balanced, 10,000 images), %; mean ± std over seeds. '
        '"val top-1": the validation set (100 left-out training images per '
        'class; class 0 has none at IR 100). Test NLL: nats per image, see '
        'docs/benchmarks/converged.md (softmax and sigmoid rows are '
        'different likelihoods).', '',
        markdown_main_table(rows, expected_seeds,
                            costs if cost else None,
                            cost['batch_sizes'] if cost else ()), ''
    ]
    converged = convergence_text(settings)
    if converged:
        text += [converged, '']
    if cost:
        text += [
            'Inference cost (`tools/benchmark/inference_cost.py`, '
            f'{cost["threads"]} thread(s), one run; {cost["machine"]}): '
            'parameters and GFLOPs per image of the tested model (a 2-model '
            'ensemble costs two ViTs; OSDTW the model assembled at its chosen '
            'C, a range when the seeds chose differently); ms per image, '
            'median of 10 timed forwards at each batch size.', ''
        ]
    paired_text = markdown_paired(paired)
    if paired_text:
        text += [paired_text]
    if mgp is not None:
        text += [f'MGP: {mgp["epochs"]} epochs, {mgp.get("training_s")} s '
                 f'of training in {mgp.get("segments")} segment(s); elapsed '
                 f'{mgp.get("elapsed_s")} s from its first log folder to its '
                 'last checkpoint, pauses included.', '']
    for r in osdtw.values():
        text.append(f'OSDTW seed {r["seed"]}: chosen C = '
                    f'{r["chosen"]["shared_depth"]}, w_A = '
                    f'{r["chosen"]["head_weight"]:.2f}; rows: ' + '; '.join(
                        f'{k}: {v.get("top1", float("nan")):.1f}'
                        for k, v in r['rows'].items()))
    layer_table = markdown_layer_mismatch(osdtw,
                                          runs.get(SGD_NOISE_SEARCH, {}))
    if layer_table:
        text += [
            '', '## Stage-1 mismatch against its noise, per layer', '',
            'The pipeline\'s statistics (its search, '
            f'{pipeline_mismatch(osdtw)}): the summed squared difference '
            'of the two stage-1 task models over the summed noise variance '
            'of that difference, on the slots with a nonzero Fisher for both tasks. '
            'About 1 or below: the bodies differ by no more than noise, '
            'sharing looks free; well above 1: the local-mismatch regime '
            'the depth choice is for. With a second seed: its SGD noise (half '
            'the squared difference of two seeds of each task model, summed '
            'over the two tasks) against the asymptotic noise, and the '
            'mismatch against that seed-to-seed spread.', '', layer_table
        ]
    text += ['', '## Ablations', '', markdown_ablation(ablation), '']
    across_cells = grid_across_seeds(runs)
    across = markdown_grid_across_seeds(across_cells)
    if across:
        text += [across]
        if plot_grid_across_seeds(across_cells,
                                  osp.join(out, 'grid_across_seeds.png')):
            text += ['![the grid over seeds](grid_across_seeds.png)', '']
    variants = evaluate_variants(ablation)
    spread = cell_spread(across_cells)
    costs = {s: choosing_costs(runs, s) for s in settings.ablation_seeds}
    variants_text = markdown_variants(variants, spread, costs)
    if variants_text:
        text += [variants_text]
    for seed, entry in ablation.items():
        png = f'grid_seed{seed}.png'
        if plot_grid(entry['analysis'], osp.join(out, png),
                     f'seed {seed}: measured grid and proxy'):
            text.append(f'![grid seed {seed}]({png})')
    text.append('![curves](curves.png)')
    body = '\n'.join(text) + '\n'
    atomic_json_dump(
        dict(
            settings=dict(
                imb_ratio=settings.imb_ratio,
                class_order=settings.class_order,
                epochs=settings.epochs,
                refine_epochs=settings.refine_epochs,
                mgp_epochs=settings.mgp_epochs,
                **vit_size(settings)),
            main=[
                dict(
                    name=r['name'],
                    label=r['label'],
                    seeds=r['seeds'],
                    convergence=r['convergence'],
                    chosen=r['chosen'],
                    wall_s=mean_std(r['wall'])[:2],
                    **{
                        k: mean_std([m.get(k) for m in r['metrics']])[:2]
                        for k in ('top1', 'many', 'medium', 'few',
                                  'head_acc', 'tail_acc', 'nll', 'nll_raw')
                    },
                    val_top1=mean_std(
                        [m.get('top1') for m in r['val_metrics']])[:2])
                for r in rows
            ],
            paired=paired,
            cost=cost,
            ablation=ablation,
            variants=dict(evaluation=variants, spread=spread,
                          costs={str(k): v for k, v in costs.items()}),
            mgp=mgp), osp.join(out, 'summary.json'))
    atomic_write_text(body, osp.join(out, 'tables.md'))
    return body


def only_jobs(jobs: List[Job], keys: List[str]) -> List[Job]:
    """The jobs named by ``keys``, in the protocol's order; ValueError for
    a key that is no job's."""
    known = {j.key for j in jobs}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ValueError(f'--only {unknown[0]!r} is not a job of this '
                         'protocol (see the "list" command)')
    return [j for j in jobs if j.key in keys]


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    os.chdir(REPO)
    settings = settings_of(args)
    protocol = Protocol(settings)
    jobs = protocol.jobs()
    check_names_unique(jobs)
    if args.command == 'list':
        todo = {j.key for j in pending_jobs(jobs, protocol.result_path)}
        for job in jobs:
            state = 'todo' if job.key in todo else 'done'
            print(f'{state}  {job.key}  deps={list(job.deps)}')
        return 0
    if args.command == 'aggregate':
        print(aggregate(settings, len(args.seeds)))
        return 0
    os.makedirs(settings.out_dir, exist_ok=True)
    if args.only:
        jobs = only_jobs(jobs, args.only)
    else:
        atomic_json_dump(
            dict(argv=sys.argv, started=time.strftime('%Y-%m-%d %H:%M:%S')),
            osp.join(settings.out_dir, 'last_run.json'))
    code = Executor(
        jobs,
        protocol.result_path,
        osp.join(protocol.root, 'logs'),
        args.jobs,
        {},
        cwd=REPO,
        slots_file=osp.join(protocol.root, 'jobs')).run()
    if args.aggregate:
        print(aggregate(settings, len(args.seeds)))
    return code
