"""The regime pilot's pure parts: variants, what a variant's runs measured,
the estimate of the whole protocol in its regime, the choice, the
convergence check and the tables. Nothing here runs anything."""
import math
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from ..common.plan import (UnitCosts, fisher_seconds, job_seconds,
                           plan_seconds)
from ..converged.cli import (DEFAULT_EPOCHS, DEFAULT_MGP_EPOCHS,
                             check_vit_size)
from ..converged.jobs import DEFAULT_EMBED_DIMS, DEFAULT_PATCH_SIZE

#: The methods each variant fine-tunes (the regime's two strong baselines;
#: the choice is on the mean of their validation top-1).
METHODS = ('bal-bce', 'la-ce')
LABELS = {'bal-bce': 'Bal-BCE', 'la-ce': 'LA-CE'}
#: The protocol whose wall time is estimated: the converged benchmark's
#: main table on 3 seeds, one w_A sweep and grid, MGP once, 2 single-thread
#: jobs at a time (MGP alone on both threads).
PROTOCOL_SEEDS = 3
PROTOCOL_JOBS = 2
#: The wall-time budget of that protocol on the 2-core machine, hours.
BUDGET_H = 15.0
#: Training images of the pipeline's Fisher passes (osdtw_pipeline.py).
FISHER_SAMPLES = 4096
#: MORE + Bal-BCE's training wall time over Bal-BCE's at the same epochs
#: (the pilot does not train MORE): the mean over seeds 0-2 of
#: docs/benchmarks/converged/ir100/runs/seed*/{more_bal-bce,bal-bce}.json
#: (1675.36 / 729.44, 1556.78 / 643.40, 1097.50 / 607.07; two passes with
#: gradients through both).
MORE_RATIO = 2.17
#: |val top-1 (2E epochs) - val top-1 (E epochs)| below this many points:
#: the regime has converged at E epochs (issue 18, item 2).
CONVERGED_POINTS = 1.0

VARIANT_PART = re.compile(r'^([pdme])(\d+)$')
KNOBS = {'p': 'patch_size', 'd': 'embed_dims', 'm': 'mgp_epochs',
         'e': 'epochs'}


@dataclass(frozen=True)
class Variant:
    """One regime: the ViT's patch size and width, MGP epochs, fine-tuning
    epochs. Its name is ``p<P>_d<D>_m<M>_e<E>``."""
    patch_size: int = DEFAULT_PATCH_SIZE
    embed_dims: int = DEFAULT_EMBED_DIMS
    mgp_epochs: int = DEFAULT_MGP_EPOCHS
    epochs: int = DEFAULT_EPOCHS

    @property
    def mgp_name(self) -> str:
        """The MGP run it needs: variants with one ``mgp_name`` share it."""
        return f'p{self.patch_size}_d{self.embed_dims}_m{self.mgp_epochs}'

    @property
    def name(self) -> str:
        return f'{self.mgp_name}_e{self.epochs}'


#: The default variants, in priority order (the pilot runs them in this
#: order, so a pilot cut short has the first ones): today's regime at 20
#: epochs, 40 and 80 (the fine-tuning length on today's MGP checkpoint: no
#: MGP run; each the convergence pair of the one before), then at 40 epochs
#: 64 tokens (patch 4), width 128 and twice the MGP epochs: one knob at a
#: time, 4 MGP runs (3 with today's checkpoint reused, --mgp-from). Screen
#: them first (``screen``) and train the ones that fit (``run
#: --skip-unfit``).
DEFAULT_VARIANTS = ('p8_d96_m200_e20', 'p8_d96_m200_e40', 'p8_d96_m200_e80',
                    'p4_d96_m200_e40', 'p8_d128_m200_e40', 'p8_d96_m400_e40')


def parse_variant(text: str) -> Variant:
    """``'p4_d128_m400_e40'`` -> a :class:`Variant`; parts may be left out
    (the default) and come in any order (``'p4_e40'``). ValueError, one
    line, for anything else.

    Example:
        >>> parse_variant('e40_p4').name
        'p4_d96_m200_e40'
    """
    values = {}
    for part in text.strip().split('_'):
        match = VARIANT_PART.match(part)
        if match is None:
            raise ValueError(
                f'variant {text!r}: {part!r} is not p<patch>, d<dims>, '
                'm<MGP epochs> or e<epochs> (e.g. p4_d128_m400_e40)')
        knob = KNOBS[match.group(1)]
        if knob in values:
            raise ValueError(f'variant {text!r} sets {knob} twice')
        values[knob] = int(match.group(2))
    variant = Variant(**values)
    bad = check_vit_size(variant.patch_size, variant.embed_dims)
    if bad:
        raise ValueError(f'variant {text!r}: ' +
                         bad.replace('--patch-size', 'the patch size')
                         .replace('--embed-dims', 'the width'))
    if variant.epochs < 2:
        raise ValueError(f'variant {text!r}: fine-tuning needs >= 2 epochs')
    if variant.mgp_epochs < 1:
        raise ValueError(f'variant {text!r}: MGP needs >= 1 epoch')
    return variant


def parse_variants(texts: Sequence[str]) -> List[Variant]:
    """Each text parsed, duplicates (the same name) an error."""
    out = [parse_variant(t) for t in texts]
    names = [v.name for v in out]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f'variant {name} is given twice')
    return out


# ---------------------------------------------------------- measurements
def _mean(values: Sequence[Optional[float]]) -> Optional[float]:
    got = [v for v in values if v is not None]
    return sum(got) / len(got) if got else None


def measured_unit_costs(ft_epoch_s: float, test_s: float, mgp_s: float,
                        train_size: int) -> UnitCosts:
    """The plan's unit costs from a regime's measured ones: MORE's epoch
    is :data:`MORE_RATIO` fine-tuning epochs, the Fisher passes
    :func:`~tools.benchmark.common.plan.fisher_seconds` at the measured
    training rate."""
    return UnitCosts(
        ft_epoch=ft_epoch_s,
        more_epoch=MORE_RATIO * ft_epoch_s,
        test=test_s,
        fisher=fisher_seconds(FISHER_SAMPLES, train_size / ft_epoch_s),
        mgp=mgp_s)


def estimate(ft_epoch_s: float, test_s: float, mgp_s: float, epochs: int,
             train_size: int, calibration: float = 1.0) -> Dict[str, float]:
    """Hours of the whole protocol in a regime (:data:`PROTOCOL_SEEDS`
    seeds, one sweep and grid, MGP once, :data:`PROTOCOL_JOBS` jobs), from
    its measured unit costs: a fine-tuning epoch (``ft_epoch_s``, its
    test-set monitor included), a test pass, the MGP run. MORE's epoch is
    :data:`MORE_RATIO` fine-tuning epochs; the Fisher passes cost
    :func:`~tools.benchmark.common.plan.fisher_seconds` at the measured
    rate. ``calibration`` (measured wall time over this plan's estimate on
    a finished protocol, :func:`calibration_of`) scales the total.

    Returns:
        dict: Hours per part of the plan (``mgp``, ``baselines``, ``more``,
        ``osdtw``, ``ablation``), the plan's ``plan_total`` and the
        calibrated ``total``.

    Example:
        >>> parts = estimate(36.0, 20.0, 6000.0, 20, 12406)
        >>> round(parts['total'], 2), round(parts['mgp'], 2)
        (7.46, 1.67)
    """
    costs = measured_unit_costs(ft_epoch_s, test_s, mgp_s, train_size)
    parts = plan_seconds(costs, epochs, PROTOCOL_SEEDS, PROTOCOL_JOBS)
    hours = {k: v / 3600.0 for k, v in parts.items()}
    hours['plan_total'] = hours.pop('total')
    hours['total'] = hours['plan_total'] * calibration
    return hours


def unit_costs(runs: Dict[str, Dict[Optional[int], dict]],
               methods: Sequence[str] = METHODS,
               epochs: Optional[int] = None) -> Optional[Dict[str, float]]:
    """The measured unit costs of a protocol's results (``load_runs``):
    the mean over ``methods`` and seeds of a training epoch (its
    ``train`` seconds over its epochs) and of a test pass (its ``test``
    seconds), and MGP's training seconds (``training_s``, the sum of its
    segments; its elapsed time when unknown). None while any is
    missing."""
    epoch_s, test_s = [], []
    for method in methods:
        for result in runs.get(method, {}).values():
            seconds = result.get('seconds', {})
            n = epochs or len(result.get('curve') or []) or None
            if 'train' in seconds and n:
                epoch_s.append(seconds['train'] / n)
            if 'test' in seconds:
                test_s.append(seconds['test'])
    mgp = runs.get('mgp', {}).get(None) or {}
    mgp_s = mgp.get('training_s') or mgp.get('elapsed_s')
    if not epoch_s or not test_s or not mgp_s:
        return None
    return dict(ft_epoch_s=_mean(epoch_s), test_s=_mean(test_s),
                mgp_s=float(mgp_s))


def calibration_of(runs: Dict[str, Dict[Optional[int], dict]], epochs: int,
                   train_size: int) -> Optional[dict]:
    """How the plan's estimate compares with a finished protocol (the
    converged benchmark's result JSONs, ``load_runs``), job by job: the
    measured command seconds of every job the plan counts
    (:func:`~tools.benchmark.common.plan.job_seconds`: the trainings, the
    pipelines, the ensembles, the sweeps and grids of every ablation seed)
    against the plan's seconds of those same jobs from the protocol's own
    Bal-BCE and LA-CE unit costs, both over :data:`PROTOCOL_JOBS` and plus
    MGP's training seconds. A pipeline run counts the trainings it made (5
    with the second stage-1 seed, else 3). Jobs the plan leaves out
    (searches, validation passes) count on neither side. None without MGP
    or those runs.

    Returns:
        dict: ``measured_h``, ``plan_h``, their ``ratio`` and ``jobs`` (how
        many were compared).
    """
    costs = unit_costs(runs, epochs=epochs)
    if costs is None:
        return None
    units = measured_unit_costs(costs['ft_epoch_s'], costs['test_s'],
                                costs['mgp_s'], train_size)
    measured_s = plan_s = 0.0
    compared = 0
    for name, by_seed in runs.items():
        for result in by_seed.values():
            trainings = 5 if 'stage1_head_seed2' in result.get(
                'timings', {}) else 3
            planned = job_seconds(name, units, epochs, trainings)
            if planned is None or not result.get('seconds'):
                continue
            measured_s += sum(result['seconds'].values())
            plan_s += planned
            compared += 1
    mgp = costs['mgp_s']
    measured_h = (mgp + measured_s / PROTOCOL_JOBS) / 3600.0
    plan_h = (mgp + plan_s / PROTOCOL_JOBS) / 3600.0
    return dict(measured_h=measured_h, plan_h=plan_h,
                ratio=measured_h / plan_h, jobs=compared)


def variant_record(variant: Variant,
                   runs: Dict[str, Dict[Optional[int], dict]], seed: int,
                   train_size: int, calibration: float = 1.0) -> dict:
    """What a variant's runs (``load_runs`` of its output folder)
    measured: per method its validation and test top-1 and its training
    throughput (training images per second of its training command's wall
    time: ``train_size * epochs / seconds``, the per-epoch test-set monitor,
    data loading and start-up included); MGP's seconds; the estimate of the
    protocol in this regime (None until both methods and MGP are done);
    ``complete``."""
    record = dict(variant=variant.name, mgp=variant.mgp_name,
                  patch_size=variant.patch_size,
                  embed_dims=variant.embed_dims,
                  mgp_epochs=variant.mgp_epochs, epochs=variant.epochs,
                  seed=seed, train_size=train_size, methods={})
    for method in METHODS:
        result = runs.get(method, {}).get(seed)
        if result is None:
            continue
        seconds = result.get('seconds', {})
        train_s = seconds.get('train')
        record['methods'][method] = dict(
            val_top1=result.get('val_metrics', {}).get('top1'),
            test_top1=result.get('metrics', {}).get('top1'),
            train_s=train_s,
            test_s=seconds.get('test'),
            images_per_s=(train_size * variant.epochs / train_s
                          if train_s else None))
    mgp = runs.get('mgp', {}).get(None)
    record['mgp_s'] = None if mgp is None else (mgp.get('training_s')
                                               or mgp.get('elapsed_s'))
    record['mgp_elapsed_s'] = None if mgp is None else mgp.get('elapsed_s')
    done = record['methods']
    record['complete'] = (all(m in done for m in METHODS)
                          and record['mgp_s'] is not None)
    vals = [done[m]['val_top1'] for m in METHODS if m in done]
    record['mean_val_top1'] = (sum(vals) / len(vals)
                               if record['complete'] else None)
    record['images_per_s'] = _mean(
        [done[m]['images_per_s'] for m in done])
    record['estimate_h'] = None
    if record['complete']:
        ft_epoch = _mean([done[m]['train_s'] for m in METHODS]) / \
            variant.epochs
        test = _mean([done[m]['test_s'] for m in METHODS])
        record['estimate_h'] = estimate(ft_epoch, test,
                                        float(record['mgp_s']),
                                        variant.epochs, train_size,
                                        calibration)
    return record


# ----------------------------------------------------------- the choice
def choose(records: Sequence[dict],
           budget_h: float = BUDGET_H) -> Tuple[Optional[str], str]:
    """The rule: among the complete variants whose estimated protocol
    wall time (calibrated) is at most ``budget_h``, the one with the
    highest mean validation top-1 of Bal-BCE and LA-CE (a tie: the cheaper
    estimate). Test top-1 never enters.

    Returns:
        tuple: The chosen variant's name (None if none fits) and a sentence
        saying why.
    """
    complete = [r for r in records if r.get('complete')]
    if not complete:
        return None, 'no variant has finished yet'
    fits = [r for r in complete if r['estimate_h']['total'] <= budget_h]
    if not fits:
        cheapest = min(complete, key=lambda r: r['estimate_h']['total'])
        return None, (f'no finished variant fits {budget_h:g} h: the '
                      f'cheapest, {cheapest["variant"]}, is estimated at '
                      f'{cheapest["estimate_h"]["total"]:.1f} h')
    best = max(fits, key=lambda r: (r['mean_val_top1'],
                                    -r['estimate_h']['total']))
    return best['variant'], (
        f'{best["variant"]}: the highest mean validation top-1 of Bal-BCE '
        f'and LA-CE ({best["mean_val_top1"]:.2f}) of the {len(fits)} '
        f'finished variant(s) whose protocol fits {budget_h:g} h (estimated '
        f'{best["estimate_h"]["total"]:.1f} h)')


def convergence_check(short: dict, long: dict,
                      points: float = CONVERGED_POINTS) -> dict:
    """The same regime at E and 2E fine-tuning epochs (two records): per
    method ``|val top-1 (2E) - val top-1 (E)|`` and whether it is below
    ``points``; ``converged``: both are (None until both methods ran at
    both lengths).

    Raises:
        ValueError: The records are not one regime at E and 2E epochs.
    """
    same = all(short[k] == long[k]
               for k in ('patch_size', 'embed_dims', 'mgp_epochs'))
    if not same or long['epochs'] != 2 * short['epochs']:
        raise ValueError(f'{short["variant"]} and {long["variant"]} are not '
                         'one regime at E and 2E epochs')
    out = dict(short=short['variant'], long=long['variant'], methods={})
    for method in METHODS:
        a = short['methods'].get(method, {}).get('val_top1')
        b = long['methods'].get(method, {}).get('val_top1')
        if a is None or b is None:
            continue
        delta = b - a
        out['methods'][method] = dict(
            delta=delta, abs_delta=abs(delta), below=abs(delta) < points)
    out['converged'] = None  # until both methods ran at E and 2E
    if len(out['methods']) == len(METHODS):
        out['converged'] = all(m['below'] for m in out['methods'].values())
    return out


def convergence_pairs(records: Sequence[dict]) -> List[dict]:
    """:func:`convergence_check` of every pair of records that is one
    regime at E and 2E epochs."""
    out = []
    for short in records:
        for long in records:
            try:
                out.append(convergence_check(short, long))
            except ValueError:
                continue
    return out


# ------------------------------------------------------------ the tables
def _fmt(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '—'
    return f'{value:.{digits}f}'


def markdown_tables(records: Sequence[dict], chosen: Optional[str],
                    reason: str, calibration: Optional[dict],
                    budget_h: float = BUDGET_H) -> str:
    """``tables.md`` of the pilot: one row per variant, the choice, the
    convergence checks."""
    lines = [
        '# Regime pilot: CIFAR-10-LT, IR 100', '',
        'Each variant: MGP, then Bal-BCE and LA-CE fine-tuned from it, seed '
        f'{records[0]["seed"] if records else 0}. val: validation top-1 % '
        '(the held-out split: 100 left-out training images per class); '
        'test: test top-1 % (reported, never used to choose). img/s: '
        'training images per second of a training run\'s wall time (its '
        'per-epoch test-set monitor, data loading and start-up included; '
        'mean of the two methods). MGP s: MGP\'s training seconds (alone, '
        '2 threads). protocol h: the estimated wall time of the whole '
        f'protocol in this regime ({PROTOCOL_SEEDS} seeds of the main table, '
        f'one w_A sweep and grid, MGP once, {PROTOCOL_JOBS} jobs) from '
        'these measurements, calibrated.', '',
        '| variant | patch | dims | MGP ep | FT ep | Bal-BCE val | LA-CE '
        'val | mean val | Bal-BCE test | LA-CE test | img/s | MGP s | '
        f'protocol h | fits {budget_h:g} h |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|'
    ]
    for r in records:
        m = r['methods']
        est = r['estimate_h']
        total = None if est is None else est['total']
        fits = '—' if total is None else ('yes' if total <= budget_h else
                                          'no')
        name = r['variant'] + ('' if r['complete'] else ' (incomplete)')
        if r['variant'] == chosen:
            name = f'**{name}**'
        lines.append(
            f'| {name} | {r["patch_size"]} | {r["embed_dims"]} | '
            f'{r["mgp_epochs"]} | {r["epochs"]} | '
            f'{_fmt(m.get("bal-bce", {}).get("val_top1"))} | '
            f'{_fmt(m.get("la-ce", {}).get("val_top1"))} | '
            f'{_fmt(r["mean_val_top1"], 2)} | '
            f'{_fmt(m.get("bal-bce", {}).get("test_top1"))} | '
            f'{_fmt(m.get("la-ce", {}).get("test_top1"))} | '
            f'{_fmt(r["images_per_s"], 0)} | {_fmt(r["mgp_s"], 0)} | '
            f'{_fmt(total)} | {fits} |')
    lines += [
        '', f'**Rule**: the highest mean validation top-1 of Bal-BCE and '
        f'LA-CE among the finished variants whose estimated protocol wall '
        f'time is at most {budget_h:g} h. **Chosen**: '
        f'{chosen or "none"} ({reason}).', ''
    ]
    if calibration is not None:
        lines += [
            f'Calibration: on the finished converged benchmark (IR 100, the '
            f'default regime), job by job ({calibration["jobs"]} '
            f'jobs the plan counts: trainings, pipelines, sweeps and grids), '
            f'the measured wall time in the plan\'s terms was '
            f'{calibration["measured_h"]:.2f} h against the plan\'s '
            f'{calibration["plan_h"]:.2f} h for the same jobs from its own '
            f'measured unit costs: every estimate above is the plan\'s times '
            f'{calibration["ratio"]:.3f}.', ''
        ]
    else:
        lines += ['Calibration: none (no finished converged benchmark): '
                  'the estimates are the plan\'s.', '']
    pairs = convergence_pairs(records)
    if pairs:
        lines += [
            f'## Convergence (the same regime at E and 2E epochs: |Δ val '
            f'top-1| < {CONVERGED_POINTS:g} point)', '',
            '| E | 2E | Bal-BCE Δ val | LA-CE Δ val | converged at E |',
            '|---|---|---|---|---|'
        ]
        for p in pairs:
            cells = []
            for method in METHODS:
                got = p['methods'].get(method)
                cells.append('—' if got is None else
                             f'{got["delta"]:+.2f}' +
                             ('' if got['below'] else ' (≥ 1)'))
            verdict = {True: 'yes', False: 'no', None: '—'}[p['converged']]
            lines.append(f'| {p["short"]} | {p["long"]} | {cells[0]} | '
                         f'{cells[1]} | {verdict} |')
        lines.append('')
    return '\n'.join(lines)
