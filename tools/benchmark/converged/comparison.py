"""The main table's comparison at equal inference cost.

Every row gets the inference cost of the model it tests (the ``cost`` job:
``tools/benchmark/inference_cost.py`` on the baseline ViT, the assembled
OSDTW model at each shared depth and a 2-model ensemble, measured in one
run): a fine-tuned baseline (MORE is tested merged) costs one ViT, a
2-model ensemble two, OSDTW the model it assembled at its chosen ``C``.
Then paired differences over the seeds, with 95 % intervals:

- OSDTW - Bal-BCE (the method's own base loss);
- OSDTW - the best rival at no more inference cost: among the other rows
  whose parameters do not exceed those of every OSDTW model of the row,
  the one with the highest mean VALIDATION top-1 (never test).
"""
from typing import Dict, List, Optional, Sequence

from ..common.stats import format_interval, mean_std, paired_difference

#: The cost row of each kind of table row (OSDTW: ``model C=<c>``).
REFERENCE_ROW = 'reference'
ENSEMBLE_ROW = 'ensemble of 2'


def cost_row_name(row: dict, seed_index: int) -> Optional[str]:
    """The cost-result row that measures a main-table row's model at one of
    its seeds (by index into ``row['seeds']``)."""
    if row['name'].startswith('osdtw'):
        chosen = (row.get('chosen') or [None])[seed_index]
        if not chosen:
            return None
        return f'model C={chosen["shared_depth"]}'
    if row['name'].startswith('ensemble2_'):
        return ENSEMBLE_ROW
    return REFERENCE_ROW


def row_costs(rows: Sequence[dict], cost: Optional[dict]
              ) -> Dict[str, List[dict]]:
    """``{row name: [cost of its model at each seed]}`` (rows the cost
    result does not cover are absent)."""
    if not cost:
        return {}
    measured = {r['name']: r for r in cost['rows']}
    out = {}
    for row in rows:
        costs = [
            measured.get(cost_row_name(row, i))
            for i in range(len(row['seeds']))
        ]
        if costs and all(c is not None for c in costs):
            out[row['name']] = costs
    return out


def cost_cells(costs: Optional[List[dict]],
               batch_sizes: Sequence[int]) -> List[str]:
    """Parameters (M), GFLOPs per image and ms per image at each batch size
    of one row; a range when the seeds' models differ (OSDTW's C)."""
    if not costs:
        return ['-'] * (2 + len(batch_sizes))

    def span(values, fmt):
        low, high = min(values), max(values)
        return fmt(low) if low == high else f'{fmt(low)}-{fmt(high)}'

    cells = [
        span([c['params'] / 1e6 for c in costs], lambda v: f'{v:.2f}'),
        span([c['gflops'] for c in costs], lambda v: f'{v:.4g}')
    ]
    for bs in batch_sizes:
        cells.append(span([c['ms_per_image'][str(bs)] for c in costs],
                          lambda v: f'{v:.3g}'))
    return cells


def by_seed(row: dict, key: str = 'top1', split: str = 'metrics'
            ) -> Dict[int, float]:
    """``{seed: value}`` of a row's metric (``split``: ``metrics`` for
    test, ``val_metrics`` for validation)."""
    return {
        s: m[key]
        for s, m in zip(row['seeds'], row[split]) if m.get(key) is not None
    }


def best_rival(rows: Sequence[dict], costs: Dict[str, List[dict]],
               target: str = 'osdtw') -> Optional[dict]:
    """The row with the highest mean validation top-1 among those whose
    every model has no more parameters than the cheapest of ``target``'s
    models (None without costs or a candidate)."""
    if target not in costs:
        return None
    budget = min(c['params'] for c in costs[target])
    candidates = [
        r for r in rows if r['name'] != target and r['name'] in costs
        and max(c['params'] for c in costs[r['name']]) <= budget
        and by_seed(r, split='val_metrics')
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda r: mean_std(
        list(by_seed(r, split='val_metrics').values()))[0])


def paired_rows(rows: Sequence[dict], costs: Dict[str, List[dict]],
                target: str = 'osdtw',
                base: str = 'bal-bce') -> List[dict]:
    """The paired differences of test top-1 (``target`` minus a rival):
    against ``base`` and against :func:`best_rival`."""
    named = {r['name']: r for r in rows}
    if target not in named:
        return []
    out = []
    rivals = []
    if base in named:
        rivals.append((named[base], 'its base loss'))
    rival = best_rival(rows, costs, target)
    if rival is not None:
        rivals.append((rival, 'the best rival (validation top-1) at no '
                       'more inference cost'))
    for row, why in rivals:
        out.append(
            dict(method=named[target]['label'], rival=row['label'], why=why,
                 difference=paired_difference(by_seed(named[target]),
                                              by_seed(row))))
    return out


def markdown_paired(paired: Sequence[dict]) -> str:
    """The paired differences as a table ('' without any)."""
    if not paired:
        return ''
    lines = [
        'Paired differences of test top-1 over the seeds (the method minus '
        'the rival, points; 95 % interval from Student\'s t on the per-seed '
        'differences):', '',
        '| method | rival | why | difference [95 % interval] |',
        '|---|---|---|---|'
    ]
    for p in paired:
        lines.append(f'| {p["method"]} | {p["rival"]} | {p["why"]} | '
                     f'{format_interval(p["difference"])} |')
    return '\n'.join(lines) + '\n'
