"""Reading the runs' outputs and aggregating the result JSONs.

Readers (used by the jobs' ``finish``): test metrics (``tools/test.py
--out``), the per-epoch test-set monitor of a training run (its
``vis_data/scalars.json`` files, every resumed segment), MGP's wall time.
Aggregation (pure, tested): means and standard deviations over seeds, the
convergence check, the grid's rank correlations, regret and the
validation-chosen cell, the comparison of the mismatch estimates.
"""
import glob
import json
import math
import os
import os.path as osp
import time
from datetime import datetime
from typing import Dict, List, Optional, Sequence, Tuple

from mmpretrain_osdtw.datasets import long_tailed_counts
# mean_std is not used here: cli.py imports it from this module.
from ..common.stats import (Point, format_mean_std, mean_std,  # noqa: F401
                            regret, spearman, spearman_within_depth)

#: The main table's columns: (metric key, header).
TABLE_COLUMNS = (('top1', 'top-1'), ('many', 'Many'), ('medium', 'Medium'),
                 ('few', 'Few'), ('head_acc', 'head classes'),
                 ('tail_acc', 'tail classes'), ('nll', 'test NLL'))
#: Convergence: the last CONVERGED_SHARE of the epochs move top-1 by less
#: than CONVERGED_POINTS.
CONVERGED_SHARE = 0.2
CONVERGED_POINTS = 1.0
MANY_THR, FEW_THR = 1500, 200
#: The analysis key of the validation-set choice (the refined models'
#: validation top-1 over the grid), beside the searches' mismatch names.
VALIDATION_VARIANT = 'validation'
#: The same with the assembled models' validation top-1 (the pipeline's
#: ``train_cfg.choose='validation'``).
ASSEMBLED_VALIDATION_VARIANT = 'validation-assembled'


# ------------------------------------------------------------- readers
def strip_prefix(metrics: dict, prefix: str = 'lt/') -> dict:
    """``{'lt/top1': x}`` -> ``{'top1': x}`` (other keys unchanged)."""
    return {(k[len(prefix):] if k.startswith(prefix) else k): v
            for k, v in metrics.items()}


def read_metrics(path: str) -> dict:
    """The metrics ``tools/test.py --out-item metrics`` wrote."""
    with open(path, encoding='utf-8') as f:
        return strip_prefix(json.load(f))


def read_curve(work_dir: str, key: str = 'lt/top1') -> List[List[float]]:
    """``[[epoch, value], ...]`` of the per-epoch validation (the test-set
    monitor) of a training run, over all of its (resumed) segments; a later
    segment's value of an epoch replaces an earlier one's."""
    values: Dict[int, float] = {}
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    for path in files:
        with open(path, encoding='utf-8') as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if key in entry and 'step' in entry:
                    values[int(entry['step'])] = float(entry[key])
    return [[e, values[e]] for e in sorted(values)]


def _log_folders(work_dir: str) -> List[Tuple[float, str]]:
    """``(start, folder)`` of each mmengine log folder of ``work_dir``
    (named by its start time, ``%Y%m%d_%H%M%S``), oldest first."""
    out = []
    for folder in glob.glob(osp.join(work_dir, '*')):
        if not osp.isdir(folder):
            continue
        try:
            stamp = datetime.strptime(osp.basename(folder), '%Y%m%d_%H%M%S')
        except ValueError:
            continue
        out.append((time.mktime(stamp.timetuple()), folder))
    return sorted(out)


def mgp_wall_time(work_dir: str, checkpoint: str) -> Optional[float]:
    """Seconds from MGP's first log folder to its final checkpoint: the
    elapsed time, pauses of a resumed run included; None when either is
    missing."""
    folders = _log_folders(work_dir)
    if not folders or not osp.isfile(checkpoint):
        return None
    return round(osp.getmtime(checkpoint) - folders[0][0], 1)


def mgp_segments(work_dir: str) -> List[List[float]]:
    """``[start, end]`` (epoch seconds) of each run segment of MGP: a log
    folder's start (its name) to its log file's last write. A resumed run
    has several; their sum is the training time without the pauses."""
    out = []
    for start, folder in _log_folders(work_dir):
        logs = glob.glob(osp.join(folder, '*.log'))
        if logs:
            out.append([start, max(osp.getmtime(p) for p in logs)])
    return out


def active_log_age(work_dir: str) -> Optional[float]:
    """Seconds since the newest ``<work_dir>/*/*.log`` changed (None: no
    log)."""
    logs = glob.glob(osp.join(work_dir, '*', '*.log'))
    if not logs:
        return None
    return time.time() - max(osp.getmtime(p) for p in logs)


def load_runs(out_dir: str) -> Dict[str, Dict[Optional[int], dict]]:
    """``{job name: {seed (None for once-only jobs): result}}`` from
    ``<out_dir>/runs``."""
    out: Dict[str, Dict[Optional[int], dict]] = {}
    base = osp.join(out_dir, 'runs')
    if not osp.isdir(base):
        return out
    for path in sorted(glob.glob(osp.join(base, '**', '*.json'),
                                 recursive=True)):
        rel = osp.relpath(path, base).split(os.sep)
        seed = int(rel[0][4:]) if len(rel) == 2 else None
        with open(path, encoding='utf-8') as f:
            out.setdefault(rel[-1][:-5], {})[seed] = json.load(f)
    return out


# ------------------------------------------------------------ statistics
def convergence(curve: Sequence[Sequence[float]],
                share: float = CONVERGED_SHARE,
                points: float = CONVERGED_POINTS) -> Optional[dict]:
    """Whether a run converged: over its last ``share`` of epochs (at
    least 2 epochs: the last one and the one before the window) top-1
    moves by less than ``points``.

    The window is the last ``ceil(share * E)`` epochs plus the epoch before
    it, so that the change INTO the window counts; the spread is max - min
    over those epochs.

    Args:
        curve: ``[[epoch, top1], ...]`` (epochs ascending).

    Returns:
        dict | None: ``{'window': [first, last], 'spread': ..., 'converged':
        bool}``, None for a curve of fewer than 2 epochs.

    Example:
        >>> convergence([[e, 50 + e] for e in range(1, 11)])['converged']
        False
        >>> convergence([[1, 40], [2, 60], [3, 60.4], [4, 60.2],
        ...              [5, 60.5]])['spread']
        0.3
    """
    if len(curve) < 2:
        return None
    width = max(1, math.ceil(share * len(curve)))
    window = [float(v) for _, v in curve[-(width + 1):]]
    spread = max(window) - min(window)
    return dict(
        window=[curve[-(width + 1)][0], curve[-1][0]],
        spread=round(spread, 4),
        converged=spread < points)


def proxy_at(w_grid: Sequence[float], proxy: Sequence[Sequence[float]],
             depth: int, weight: float) -> float:
    """The proxy at row ``C = depth`` and the ``w_A`` column nearest to
    ``weight`` of a ``search.json`` grid."""
    if not 0 <= depth < len(proxy):
        raise ValueError(f'C={depth} is outside the search grid 0..'
                         f'{len(proxy) - 1}')
    col = min(range(len(w_grid)), key=lambda i: abs(w_grid[i] - weight))
    return float(proxy[depth][col])


def argmin_point(values: Dict[Point, float]) -> Point:
    """The cell with the smallest value (ties: larger C, then w_A closer
    to 0.5, as the search breaks them)."""
    return min(values, key=lambda p: (values[p], -p[0], abs(p[1] - 0.5)))


def grid_analysis(cells: Dict[Point, dict], w_grid: Sequence[float],
                  proxy: Sequence[Sequence[float]]) -> dict:
    """The proxy of one search against the measured grid of one seed:
    :func:`choice_analysis` with the proxy read at each cell
    (:func:`proxy_at`)."""
    return choice_analysis(
        cells, {p: proxy_at(w_grid, proxy, p[0], p[1])
                for p in cells})


def validation_analysis(cells: Dict[Point, dict],
                        key: str = 'val_metrics') -> Optional[dict]:
    """The validation-set choice as a rival "proxy": :func:`choice_analysis`
    with each cell's validation top-1 error as its score: of the refined
    model (``key='val_metrics'``) or of the assembled one
    (``'assembled_val_metrics'``, what the pipeline's validation mode
    scores). None unless every cell has one."""
    scores = {
        p: 100.0 - c[key]['top1']
        for p, c in cells.items() if 'top1' in (c.get(key) or {})
    }
    if not cells or len(scores) < len(cells):
        return None
    return choice_analysis(cells, scores)


def choice_analysis(cells: Dict[Point, dict],
                    score: Dict[Point, float]) -> dict:
    """A way of choosing a cell (lowest ``score``) against the measured
    grid of one seed.

    Args:
        cells: ``{(C, w_A): grid result}`` (``metrics``,
            ``assembled_metrics``, ``val_metrics``).
        score: ``{(C, w_A): value}`` for every cell, lower is better: a
            search's proxy, or the validation error.

    Returns:
        dict: Spearman of the score against the refined model's top-1
        error and against the assembled (factorized) model's test NLL, over
        the grid and within each depth; the cells chosen by the score
        (``proxy_choice``), by validation top-1 and by test top-1 (the
        oracle), with their test error and the score's regret.
    """
    points = sorted(cells)
    err = {p: 100.0 - cells[p]['metrics']['top1'] for p in points}
    nll = {
        p: cells[p]['assembled_metrics'].get('nll')
        for p in points
    }
    val_err = {
        p: 100.0 - cells[p]['val_metrics']['top1']
        for p in points if 'top1' in cells[p].get('val_metrics', {})
    }
    prox = {p: float(score[p]) for p in points}
    have_nll = [p for p in points if nll[p] is not None]
    pick = argmin_point(prox)
    best = argmin_point(err)
    out = dict(
        n_cells=len(points),
        spearman_proxy_error=spearman([prox[p] for p in points],
                                      [err[p] for p in points]),
        spearman_proxy_nll=spearman([prox[p] for p in have_nll],
                                    [nll[p] for p in have_nll]),
        within_C_proxy_error={
            str(c): v
            for c, v in spearman_within_depth(prox, err).items()
        },
        within_C_proxy_nll={
            str(c): v
            for c, v in spearman_within_depth(
                prox, {p: nll[p] for p in have_nll}).items()
        },
        proxy_choice=list(pick),
        proxy_choice_error=err[pick],
        proxy_regret=regret(err, pick),
        test_best=list(best),
        test_best_error=err[best],
        cells=[[p[0], p[1], err[p], nll[p], prox[p]] for p in points])
    if len(val_err) == len(points):
        val_pick = argmin_point(val_err)
        out.update(
            val_choice=list(val_pick),
            val_choice_error=err[val_pick],
            proxy_vs_val_choice=err[pick] - err[val_pick])
    return out


def counts_of(imb_ratio: float) -> List[int]:
    """CIFAR-10-LT training counts in profile order."""
    return long_tailed_counts(5000, 10, imb_ratio).tolist()


# ------------------------------------------------------------ the tables
def main_rows(runs: Dict[str, Dict[Optional[int], dict]],
              methods: Sequence[Tuple[str, str]]) -> List[dict]:
    """One row per method that has results: label, seeds, per-seed
    metrics, validation metrics, wall times, convergence."""
    rows = []
    for name, label in methods:
        by_seed = runs.get(name, {})
        if not by_seed:
            continue
        seeds = sorted(s for s in by_seed if s is not None)
        results = [by_seed[s] for s in seeds]
        conv = [run_convergence(r) for r in results]
        rows.append(
            dict(
                name=name,
                label=label,
                seeds=seeds,
                metrics=[r['metrics'] for r in results],
                val_metrics=[r.get('val_metrics', {}) for r in results],
                wall=[r.get('wall_s') for r in results],
                convergence=conv,
                chosen=[r.get('chosen') for r in results]))
    return rows


def grid_cells(runs: Dict[str, Dict[Optional[int], dict]],
               seed: int) -> Dict[Point, dict]:
    """``{(C, w_A): grid result}`` of one seed."""
    return {(r['C'], r['w_A']): r
            for name, by_seed in runs.items() if name.startswith('grid_')
            for s, r in by_seed.items() if s == seed}


def chosen_cell_runs(runs: Dict[str, Dict[Optional[int], dict]],
                     ablation: dict, key: str) -> Dict[int, dict]:
    """Per ablation seed, the grid cell a way of choosing picked (``key``
    of :func:`ablation_summary`'s analyses: its ``proxy_choice``) as a
    main-table run: the refined cell's test and validation metrics and the
    choice. What the pipeline gets with that way of choosing when its
    choice is a grid cell (at ``C = 0`` every ``w_A`` is one model);
    otherwise the nearest cell's result."""
    out = {}
    for seed, entry in ablation.items():
        analysis = entry.get('analysis', {}).get(key)
        if analysis is None:
            continue
        c, w = analysis['proxy_choice']
        cell = grid_cells(runs, int(seed)).get((c, w))
        if cell is None:
            continue
        out[int(seed)] = dict(
            seed=int(seed), metrics=cell['metrics'],
            val_metrics=cell.get('val_metrics', {}),
            chosen=dict(shared_depth=c, head_weight=w), curve=[])
    return out


def run_convergence(result: dict) -> Optional[dict]:
    """:func:`convergence` of a run's curve; for the OSDTW pipeline (one
    curve per trained step) the worst step's, with the steps named."""
    if 'curves' not in result:
        return convergence(result.get('curve', []))
    steps = {
        step: convergence(curve)
        for step, curve in result['curves'].items()
    }
    steps = {k: v for k, v in steps.items() if v is not None}
    if not steps:
        return None
    worst = max(steps, key=lambda k: steps[k]['spread'])
    return dict(
        steps=steps,
        worst_step=worst,
        spread=steps[worst]['spread'],
        converged=all(v['converged'] for v in steps.values()))


def converged_text(conv: Sequence[Optional[dict]]) -> str:
    """``'yes'`` / ``'no (2 of 3)'`` / ``'-'`` for a row's seeds."""
    known = [c for c in conv if c is not None]
    if not known:
        return '-'
    yes = sum(c['converged'] for c in known)
    if yes == len(known):
        return 'yes'
    return f'no ({len(known) - yes} of {len(known)} not)'


def markdown_main_table(rows: Sequence[dict], expected_seeds: int,
                        costs: Optional[Dict[str, List[dict]]] = None,
                        batch_sizes: Sequence[int] = ()) -> str:
    """The main table (test set, mean ± std over seeds); with ``costs``
    (:func:`~.comparison.row_costs`) the inference cost of each row's
    model: parameters, GFLOPs and ms per image at ``batch_sizes``."""
    from .comparison import cost_cells
    head = ['method', 'seeds'] + [h for _, h in TABLE_COLUMNS] + [
        'val top-1', 'wall time (s)', 'converged'
    ]
    if costs is not None:
        head += ['params (M)', 'GFLOPs/img'] + [
            f'ms/img @ {bs}' for bs in batch_sizes
        ]
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    for row in rows:
        seeds = str(len(row['seeds']))
        if len(row['seeds']) < expected_seeds:
            seeds += ' (incomplete)'
        cells = [
            format_mean_std([m.get(k) for m in row['metrics']],
                            3 if k == 'nll' else 1)
            for k, _ in TABLE_COLUMNS
        ]
        cells.append(
            format_mean_std([m.get('top1') for m in row['val_metrics']]))
        cells.append(format_mean_std(row['wall'], 0))
        cells.append(converged_text(row['convergence']))
        if costs is not None:
            cells += cost_cells(costs.get(row['name']), batch_sizes)
        lines.append(f'| {row["label"]} | {seeds} | ' + ' | '.join(cells) +
                     ' |')
    return '\n'.join(lines)


def ablation_summary(runs: Dict[str, Dict[Optional[int], dict]],
                     mismatches: Sequence[str]) -> dict:
    """Per ablation seed: the w_A sweep at C = L (stage 2), the grid and
    its analysis against each mismatch estimate's search."""
    out = {}
    seeds = sorted({
        s
        for name, by_seed in runs.items() if name.startswith('grid_')
        for s in by_seed
    } | {
        s
        for name, by_seed in runs.items() if name.startswith('stage2_')
        for s in by_seed
    })
    for seed in seeds:
        sweep = sorted(
            (r['w_A'], r['metrics'], r.get('val_metrics', {}))
            for name, by_seed in runs.items() if name.startswith('stage2_')
            for s, r in by_seed.items() if s == seed)
        cells = grid_cells(runs, seed)
        entry = dict(
            sweep=[dict(w_A=w, test=m, val=v) for w, m, v in sweep],
            analysis={})
        for mismatch in mismatches:
            search = runs.get(f'search_{mismatch}', {}).get(seed)
            if search is None or len(cells) < 3:
                continue
            analysis = grid_analysis(cells, search['w_grid'],
                                     search['proxy'])
            analysis['search_choice'] = [
                search['chosen']['C'], search['chosen']['w_A']
            ]
            entry['analysis'][mismatch] = analysis
        assembled_val = runs.get('assembled_val', {}).get(seed)
        for c, w, metrics in (assembled_val or {}).get('cells', []):
            if (c, w) in cells:
                cells[(c, w)] = dict(cells[(c, w)],
                                     assembled_val_metrics=metrics)
        for variant, key in ((VALIDATION_VARIANT, 'val_metrics'),
                             (ASSEMBLED_VALIDATION_VARIANT,
                              'assembled_val_metrics')):
            validation = validation_analysis(cells, key) \
                if len(cells) >= 3 else None
            if validation is not None:
                validation['search_choice'] = validation['proxy_choice']
                entry['analysis'][variant] = validation
        out[str(seed)] = entry
    return out


def grid_across_seeds(runs: Dict[str, Dict[Optional[int], dict]]
                      ) -> Dict[Point, Dict[str, list]]:
    """Every grid cell over the seeds that ran it: ``{(C, w_A):
    {'top1': [refined top-1 per seed], 'nll': [assembled test NLL per
    seed], 'seeds': [...]}}``, in seed order."""
    out: Dict[Point, Dict[str, list]] = {}
    for name, by_seed in runs.items():
        if not name.startswith('grid_'):
            continue
        for seed in sorted(by_seed):
            r = by_seed[seed]
            cell = out.setdefault((r['C'], r['w_A']),
                                  dict(top1=[], nll=[], seeds=[]))
            cell['top1'].append(r['metrics'].get('top1'))
            cell['nll'].append(r.get('assembled_metrics', {}).get('nll'))
            cell['seeds'].append(seed)
    return out


def markdown_grid_across_seeds(cells: Dict[Point, Dict[str, list]]) -> str:
    """The grid's cells, mean ± std over seeds: the refined model's test
    top-1 and, in brackets, the assembled model's test NLL; the seed-to-seed
    spread tells a real regret from noise. Empty below two seeds."""
    if not cells or max(len(c['seeds']) for c in cells.values()) < 2:
        return ''
    depths = sorted({c for c, _ in cells})
    weights = sorted({w for _, w in cells})
    seeds = sorted({s for c in cells.values() for s in c['seeds']})
    lines = [
        '### The grid over seeds ' + ', '.join(map(str, seeds)) +
        ': refined test top-1 (assembled test NLL), mean ± std', '',
        '| C \\ w_A | ' + ' | '.join(f'{w:.1f}' for w in weights) + ' |',
        '|---|' + '---|' * len(weights)
    ]
    for depth in depths:
        row = []
        for weight in weights:
            cell = cells.get((depth, weight))
            row.append('-' if cell is None else
                       f'{format_mean_std(cell["top1"])} '
                       f'({format_mean_std(cell["nll"], 3)}; '
                       f'n={len(cell["seeds"])})')
        lines.append(f'| {depth} | ' + ' | '.join(row) + ' |')
    return '\n'.join(lines) + '\n'


def markdown_ablation(summary: dict) -> str:
    """The w_A sweep and the proxy-validation table."""
    lines = []
    for seed, entry in summary.items():
        if entry['sweep']:
            lines += [
                f'### Seed {seed}: stage 2 at full sharing (C = L), '
                'w_A sweep', '',
                '| w_A | top-1 | Many | Medium | Few | test NLL | val top-1 |',
                '|---|---|---|---|---|---|---|'
            ]
            for item in entry['sweep']:
                t, v = item['test'], item['val']
                lines.append(
                    f'| {item["w_A"]:.2f} | ' + ' | '.join(
                        format_number(t.get(k)) for k in ('top1', 'many', 'medium',
                                                 'few')) +
                    f' | {format_number(t.get("nll"), 3)} | {format_number(v.get("top1"))} |')
            lines.append('')
        if entry['analysis']:
            lines += [
                f'### Seed {seed}: the proxy against the measured grid', '',
                '| mismatch | cells | Spearman(proxy, NLL) | '
                'Spearman(proxy, error) | proxy grid choice (error) | '
                'its regret (points) | val choice (error) | test best '
                '(error) | search choice |', '|---|---|---|---|---|---|---|---|---|'
            ]
            for mismatch, a in entry['analysis'].items():
                val = (f'({a["val_choice"][0]}, {a["val_choice"][1]:.2f}) '
                       f'({a["val_choice_error"]:.1f})'
                       if 'val_choice' in a else '-')
                lines.append(
                    f'| {mismatch} | {a["n_cells"]} | '
                    f'{format_number(a["spearman_proxy_nll"], 2)} | '
                    f'{format_number(a["spearman_proxy_error"], 2)} | '
                    f'({a["proxy_choice"][0]}, {a["proxy_choice"][1]:.2f}) '
                    f'({a["proxy_choice_error"]:.1f}) | '
                    f'{a["proxy_regret"]:.2f} | {val} | '
                    f'({a["test_best"][0]}, {a["test_best"][1]:.2f}) '
                    f'({a["test_best_error"]:.1f}) | '
                    f'({a["search_choice"][0]}, {a["search_choice"][1]:.2f})'
                    ' |')
            lines.append('')
            lines += markdown_within_depth(seed, entry['analysis'])
            lines += markdown_grid_cells(seed, entry['analysis'])
    return '\n'.join(lines)


def markdown_within_depth(seed: str, analysis: Dict[str, dict]) -> List[str]:
    """Spearman of each mismatch's proxy against the assembled model's
    NLL and the refined model's error, within each depth (over w_A)."""
    depths = {c for a in analysis.values() for c in a['within_C_proxy_nll']}
    depths = sorted(depths, key=int)
    lines = [
        f'Seed {seed}: Spearman within each depth (over w_A), proxy vs '
        'NLL / proxy vs error ("-": fewer than 3 points or a constant '
        'input)', '', '| mismatch | ' + ' | '.join(
            f'C = {c}' for c in depths) + ' |',
        '|---|' + '---|' * len(depths)
    ]
    for mismatch, a in analysis.items():
        lines.append(f'| {mismatch} | ' + ' | '.join(
            f'{format_number(a["within_C_proxy_nll"].get(c), 2)} / '
            f'{format_number(a["within_C_proxy_error"].get(c), 2)}'
            for c in depths) + ' |')
    return lines + ['']


def markdown_grid_cells(seed: str, analysis: Dict[str, dict]) -> List[str]:
    """One row per grid cell: refined top-1 error, assembled NLL and each
    mismatch's proxy."""
    names = list(analysis)
    rows = {}
    for mismatch, a in analysis.items():
        for c, w, err, nll, prox in a['cells']:
            rows.setdefault((c, w), [err, nll])
            rows[(c, w)].append(prox)
    lines = [
        f'Seed {seed}: the grid cell by cell', '',
        '| C | w_A | top-1 error (refined) | test NLL (assembled) | ' +
        ' | '.join(score_label(m) for m in names) + ' |',
        '|---|---|---|---|' + '---|' * len(names)
    ]
    for (c, w), (err, nll, *prox) in sorted(rows.items()):
        lines.append(f'| {c} | {w:.2f} | {format_number(err, 2)} | {format_number(nll, 3)} | ' +
                     ' | '.join(_fmt_sig(p) for p in prox) + ' |')
    return lines + ['']


def markdown_layer_mismatch(osdtw: Dict[Optional[int], dict],
                            sgd: Optional[Dict[Optional[int], dict]] = None
                            ) -> str:
    """Per layer and seed: the measured stage-1 mismatch over its noise
    (``sum delta^2 / sum n``, the pipeline search's
    ``per_layer_mismatch``) and the fraction of slots above their noise;
    with ``sgd`` (the SGD-noise searches by seed), the SGD noise over the
    asymptotic noise and ``sum delta^2`` over the SGD noise. Empty without
    the diagnosis."""
    seeds = sorted(s for s, r in osdtw.items()
                   if (r.get('search') or {}).get('per_layer_mismatch'))
    if not seeds:
        return ''
    by_seed = {s: osdtw[s]['search']['per_layer_mismatch'] for s in seeds}
    sgd_seeds = sorted(s for s, r in (sgd or {}).items()
                       if r.get('per_layer_mismatch'))
    layers = [row['layer'] for row in by_seed[seeds[0]]]
    lines = [
        '| layer | ' + ' | '.join(
            f'seed {s}: sum delta^2 / sum noise (slots above)'
            for s in seeds) + ''.join(
                f' | seed {s}: SGD noise (seed {sgd[s]["sgd_noise_seed"]}) / '
                f'asymptotic noise | seed {s}: sum delta^2 / SGD noise'
                for s in sgd_seeds) + ' |',
        '|---|' + '---|' * (len(seeds) + 2 * len(sgd_seeds))
    ]
    for i, layer in enumerate(layers):
        cells = []
        for s in seeds:
            row = by_seed[s][i]
            ratio, above = row.get('ratio'), row.get('above_noise')
            cells.append('-' if ratio is None else
                         f'{ratio:.3g} ({100 * (above or 0):.1f} %)')
        for s in sgd_seeds:
            row = sgd[s]['per_layer_mismatch'][i]
            spread = row.get('sgd_noise') or 0.0
            asymptotic = row['noise'] - spread
            cells.append(f'{spread / asymptotic:.3g}'
                         if asymptotic > 0 else '-')
            cells.append(f'{row["delta2"] / spread:.3g}' if spread > 0 else '-')
        name = {0: 'head + final norm', 1: 'block 1 + embeddings'}.get(
            layer, f'block {layer}')
        lines.append(f'| {layer} ({name}) | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def score_label(name: str) -> str:
    """A column or panel title for an analysis key: ``proxy (<name>)``, or
    the validation error for :data:`VALIDATION_VARIANT`."""
    if name == VALIDATION_VARIANT:
        return 'validation error (%, refined)'
    if name == ASSEMBLED_VALIDATION_VARIANT:
        return 'validation error (%, assembled)'
    return f'proxy ({name})'


def _fmt_sig(value, digits: int = 4) -> str:
    """``value`` with ``digits`` significant digits (proxies span 1e-5 to
    1e2 across variants)."""
    if value is None or not math.isfinite(float(value)):
        return '-'
    return f'{float(value):.{digits}g}'


def format_number(value, digits: int = 1) -> str:
    if value is None or not math.isfinite(float(value)):
        return '-'
    return f'{float(value):.{digits}f}'
