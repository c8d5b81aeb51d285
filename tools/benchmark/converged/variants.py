"""How each way of choosing ``(C, w_A)`` fares on the validation grids.

Issue 17's criteria, stated before the grids of seeds 1 and 2 ran: a way of
choosing **passes** when, on every validation grid (:data:`JUDGED_SEEDS`),

- its choice's regret against the grid's test-best cell is at most
  :data:`MAX_REGRET` point of refined top-1 error, and
- Spearman(its score, the assembled model's test NLL) over the grid's 20
  cells is at least :data:`MIN_SPEARMAN_NLL`.

Seed 0's grid designed the calibrated variants: it is reported, never
judged. The test set enters only as the yardstick (regret, Spearman); no
variant reads it. The ways of choosing (:data:`VARIANTS`) are the searches
the benchmark ran (their result files ``search_<key>.json``) and the
validation-set choice (:data:`~.results.VALIDATION_VARIANT`: the grid cell
with the best refined validation top-1, the practical rival).

The cost of each way (:func:`choosing_costs`) is measured from the result
JSONs: what it adds to one pipeline run, beside the pipeline and one
Bal-BCE training.
"""
import math
from dataclasses import dataclass
from statistics import median
from typing import Dict, List, Optional, Sequence

from ..common.stats import Point, mean_std
from .results import (ASSEMBLED_VALIDATION_VARIANT, VALIDATION_VARIANT,
                      format_number)

#: The seeds whose grids judge the variants (seed 0 designed them).
JUDGED_SEEDS = (1, 2)
#: The largest regret (points of top-1 error) a passing choice may have.
MAX_REGRET = 0.5
#: The smallest Spearman(score, assembled test NLL) a passing score may
#: have.
MIN_SPEARMAN_NLL = 0.7


@dataclass(frozen=True)
class Variant:
    """One way of choosing ``(C, w_A)``.

    Attributes:
        key (str): Its analysis key (a search result ``search_<key>``, or
            the validation choice).
        label (str): Its name in the tables.
        setting (str): How a user gets it.
    """
    key: str
    label: str
    setting: str


VARIANTS = (
    Variant('debiased-positive', 'asymptotic (the former default)',
            "`noise_scale='asymptotic'` (mismatch `debiased-positive`)"),
    Variant('raw', 'asymptotic, raw mismatch',
            "`search.mismatch='raw'`"),
    Variant('debiased', 'asymptotic, debiased mismatch',
            "`search.mismatch='debiased'`"),
    Variant('sgd-noise', 'SGD noise added to the mismatch noise',
            '`tools/osdtw_sgd_noise.py` + `--noise-scale asymptotic`'),
    Variant('sgd-scale', 'N calibrated on a second seed (the default)',
            "`noise_scale='second_seed'`, `search.mismatch='debiased'`"),
    Variant('displacement', 'N calibrated on the displacement from MGP',
            "`noise_scale='displacement'`, `search.mismatch='debiased'`"),
    Variant(ASSEMBLED_VALIDATION_VARIANT,
            'validation-set choice (assembled models)',
            "`train_cfg.choose='validation'` (scored before refinement)"),
    Variant(VALIDATION_VARIANT, 'validation-set choice (refined models)',
            'a (C, w_A) grid refined and scored on the validation split'),
)


def verdict(analysis: dict) -> dict:
    """One variant on one grid: its numbers and whether they pass."""
    regret = float(analysis['proxy_regret'])
    rho = analysis['spearman_proxy_nll']
    rho_ok = rho is not None and math.isfinite(rho) and \
        rho >= MIN_SPEARMAN_NLL
    return dict(
        choice=list(analysis['proxy_choice']),
        regret=regret,
        spearman_nll=rho,
        spearman_error=analysis['spearman_proxy_error'],
        vs_validation_choice=analysis.get('proxy_vs_val_choice'),
        regret_ok=regret <= MAX_REGRET,
        spearman_ok=rho_ok,
        passes=regret <= MAX_REGRET and rho_ok)


def evaluate_variants(ablation: dict,
                      judged: Sequence[int] = JUDGED_SEEDS) -> List[dict]:
    """Every variant on every grid, and the verdict over ``judged``.

    Args:
        ablation: :func:`~.results.ablation_summary`'s output (``{seed:
            {'analysis': {key: choice analysis}}}``).
        judged: The seeds that judge.

    Returns:
        list[dict]: Per variant (those with at least one grid): ``key``,
        ``label``, ``setting``, ``by_seed`` (``{seed: verdict}``),
        ``judged_missing`` (judged seeds without its grid) and ``passes``
        (True / False once every judged grid is in, else None).
    """
    out = []
    for variant in VARIANTS:
        by_seed = {
            int(seed): verdict(entry['analysis'][variant.key])
            for seed, entry in sorted(ablation.items(), key=lambda i: int(
                i[0])) if variant.key in entry.get('analysis', {})
        }
        if not by_seed:
            continue
        missing = [s for s in judged if s not in by_seed]
        passes = None if missing else all(by_seed[s]['passes']
                                          for s in judged)
        out.append(
            dict(key=variant.key, label=variant.label,
                 setting=variant.setting, by_seed=by_seed,
                 judged_missing=missing, passes=passes))
    return out


def cell_spread(across: Dict[Point, Dict[str, list]]) -> Optional[dict]:
    """The grid cells' seed-to-seed spread of refined top-1 (sample std
    over the seeds that ran each cell): median and largest over cells with
    at least two seeds; None when no cell has two."""
    stds = {
        p: mean_std(c['top1'])[1]
        for p, c in across.items() if len(c['seeds']) >= 2
    }
    if not stds:
        return None
    return dict(
        median_std=median(stds.values()),
        max_std=max(stds.values()),
        cells=len(stds),
        seeds=sorted({s for c in across.values() for s in c['seeds']}))


def _seconds(result: Optional[dict], *labels: str) -> float:
    """The sum of a result JSON's ``seconds`` at ``labels`` (0 for a
    missing result or label)."""
    if not result:
        return 0.0
    seconds = result.get('seconds', {})
    return float(sum(seconds.get(label, 0.0) for label in labels))


def choosing_costs(runs: Dict[str, Dict[Optional[int], dict]],
                   seed: int) -> Optional[dict]:
    """What each way of choosing costs on ``seed``, in seconds of job time
    measured on this machine, beside the pipeline and one Bal-BCE training.

    - asymptotic: nothing beyond the pipeline (its search step);
    - second seed: the partner seed's two stage-1 trainings (the pipeline
      option trains them again with the next seed: the same configs and
      cost), the SGD-noise pass and the search;
    - displacement: its noise pass and search;
    - validation over the grid: the stage-2 sweep's trainings and, per
      cell, assembly, refinement and the validation pass.

    Returns:
        dict | None: ``pipeline``, ``bal_bce`` and ``extra`` (``{variant
        key: seconds}``; a variant whose runs are missing is absent), None
        without the seed's pipeline run.
    """
    osdtw = runs.get('osdtw', {}).get(seed)
    if osdtw is None:
        return None
    pipeline = float(sum(osdtw.get('timings', {}).values()))
    extra = {'debiased-positive': 0.0}
    scale = runs.get('search_sgd-scale', {}).get(seed)
    noise = runs.get('search_sgd-noise', {}).get(seed)
    if scale and noise:
        partner = runs.get('osdtw', {}).get(scale.get('sgd_noise_seed'))
        if partner is not None:
            timings = partner.get('timings', {})
            extra['sgd-scale'] = (
                timings.get('stage1_head', 0.0) +
                timings.get('stage1_tail', 0.0) +
                _seconds(noise, 'sgd_noise_head', 'sgd_noise_tail') +
                _seconds(scale, 'search'))
    displacement = runs.get('search_displacement', {}).get(seed)
    if displacement:
        extra['displacement'] = _seconds(
            displacement, *displacement.get('seconds', {}))
    stage2 = [by_seed[seed] for name, by_seed in runs.items()
              if name.startswith('stage2_') and seed in by_seed]
    grid = [by_seed[seed] for name, by_seed in runs.items()
            if name.startswith('grid_') and seed in by_seed]
    if stage2 and grid:
        extra[VALIDATION_VARIANT] = (
            sum(_seconds(r, 'train') for r in stage2) +
            sum(_seconds(r, 'assemble', 'refine', 'val') for r in grid))
        assembled = runs.get('assembled_val', {}).get(seed)
        if assembled:
            # the pipeline's mode: a stage-2 model per weight (its own
            # stage 2 among them, reused), then per cell an assembly and a
            # validation pass
            train = [_seconds(r, 'train') for r in stage2]
            extra[ASSEMBLED_VALIDATION_VARIANT] = (
                sum(train) - sum(train) / len(train) +
                sum(_seconds(r, 'assemble') for r in grid) +
                sum(assembled.get('seconds', {}).values()))
    bal_bce = runs.get('bal-bce', {}).get(seed)
    return dict(pipeline=pipeline,
                bal_bce=_seconds(bal_bce, 'train') or None,
                extra=extra)


def _pass_text(value: Optional[bool]) -> str:
    return {True: '**passes**', False: 'fails', None: 'pending'}[value]


def markdown_variants(evaluation: Sequence[dict],
                      spread: Optional[dict],
                      costs: Dict[int, dict],
                      judged: Sequence[int] = JUDGED_SEEDS) -> str:
    """The verdict table, the per-grid numbers, the spread and the costs."""
    if not evaluation:
        return ''
    lines = [
        '## Ways of choosing (C, w_A), judged on the validation grids', '',
        f'Criteria (fixed before the grids of seeds '
        f'{", ".join(map(str, judged))} ran): on each of those grids, regret '
        f'<= {MAX_REGRET} point of refined top-1 error against the grid\'s '
        f'test-best cell and Spearman(score, assembled test NLL) >= '
        f'{MIN_SPEARMAN_NLL}. Seed 0 designed the calibrated variants and '
        'is shown, not judged. Regret and the "vs val choice" column: '
        'points of test top-1 error (positive: worse).', '',
        '| way of choosing | how | seed | choice (C, w_A) | regret | '
        'vs val choice | Spearman(score, NLL) | Spearman(score, error) | '
        'criteria |', '|---|---|---|---|---|---|---|---|---|'
    ]
    for v in evaluation:
        for seed, r in sorted(v['by_seed'].items()):
            role = 'design' if seed not in judged else (
                'pass' if r['passes'] else 'fail')
            lines.append(
                f'| {v["label"]} | {v["setting"]} | {seed} | '
                f'({r["choice"][0]}, {r["choice"][1]:.2f}) | '
                f'{r["regret"]:.2f} | {format_number(r["vs_validation_choice"], 2)} | '
                f'{format_number(r["spearman_nll"], 3)} | '
                f'{format_number(r["spearman_error"], 3)} | {role} |')
    lines += ['', '| way of choosing | verdict on seeds ' +
              ', '.join(map(str, judged)) + ' |', '|---|---|']
    for v in evaluation:
        text = _pass_text(v['passes'])
        if v['judged_missing']:
            text += (' (no grid yet for seed ' +
                     ', '.join(map(str, v['judged_missing'])) + ')')
        lines.append(f'| {v["label"]} | {text} |')
    if spread is not None:
        lines += [
            '', f'Seed-to-seed spread of the refined top-1 over seeds '
            f'{", ".join(map(str, spread["seeds"]))} ({spread["cells"]} '
            f'cells with two or more seeds): median std '
            f'{spread["median_std"]:.2f} point, largest '
            f'{spread["max_std"]:.2f}. A regret below the median std is '
            'within one seed\'s noise of the best cell.'
        ]
    rows = [(s, c) for s, c in sorted(costs.items()) if c is not None]
    if rows:
        names = [v for v in VARIANTS if any(v.key in c['extra']
                                            for _, c in rows)]
        lines += [
            '', 'Cost of choosing, seconds of job time on this machine '
            '(added to one pipeline run; in brackets: (pipeline + it) / one '
            'Bal-BCE training)', '',
            '| seed | pipeline | Bal-BCE | ' + ' | '.join(
                v.label for v in names) + ' |',
            '|---|---|---|' + '---|' * len(names)
        ]
        for seed, c in rows:
            cells = []
            for v in names:
                extra = c['extra'].get(v.key)
                if extra is None:
                    cells.append('-')
                elif c['bal_bce']:
                    cells.append(f'{extra:.0f} '
                                 f'({(c["pipeline"] + extra) / c["bal_bce"]:.1f}x)')
                else:
                    cells.append(f'{extra:.0f}')
            lines.append(f'| {seed} | {c["pipeline"]:.0f} | '
                         f'{format_number(c["bal_bce"], 0)} | ' + ' | '.join(cells) +
                         ' |')
    return '\n'.join(lines) + '\n'
