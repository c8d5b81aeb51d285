"""The long-tailed benchmark table printed by ``tools/test.py`` and the
OSDTW pipeline report (:mod:`.pipeline_report`)."""
from typing import Dict, Mapping, Optional

# (metric key of ShotGroupMetric without prefix, column title)
COLUMNS = (
    ('top1', 'Top-1'),
    ('mean_class_acc', 'Mean class'),
    ('many', 'Many'),
    ('medium', 'Medium'),
    ('few', 'Few'),
    ('head_acc', 'Head classes'),
    ('tail_acc', 'Tail classes'),
)


def shot_values(metrics: Mapping[str, object]) -> Dict[str, float]:
    """Pick the ShotGroupMetric numbers out of an evaluator result.

    Keys are matched on their last component, so any prefix
    (``lt/many``, ``test/lt/many``) works.

    Args:
        metrics (Mapping): What ``runner.test()`` / ``runner.val()`` return.

    Returns:
        dict: ``{key: value}`` for the keys of :data:`COLUMNS` present.
    """
    wanted = {key for key, _ in COLUMNS}
    found = {}
    for name, value in metrics.items():
        key = name.rsplit('/', 1)[-1]
        if key in wanted and isinstance(value, (int, float)):
            found[key] = float(value)
    return found


def format_shot_table(
        rows: Mapping[str, Mapping[str, object]]) -> Optional[str]:
    """A Markdown table with one row per model.

    Args:
        rows (Mapping): ``{model name: metrics}``.

    Returns:
        str | None: The table, or None when no row has shot-group numbers
        (the config did not use ``ShotGroupMetric``).

    Example:
        >>> print(format_shot_table({'bal-bce': {'lt/top1': 71.5,
        ...                                      'lt/many': 90.0}}))
        | model | Top-1 | Many |
        |---|---|---|
        | bal-bce | 71.50 | 90.00 |
    """
    values = {name: shot_values(metrics) for name, metrics in rows.items()}
    present = [(key, title) for key, title in COLUMNS
               if any(key in v for v in values.values())]
    if not present:
        return None
    lines = [
        '| model | ' + ' | '.join(title for _, title in present) + ' |',
        '|---|' + '---|' * len(present),
    ]
    for name, vals in values.items():
        cells = [
            f'{vals[key]:.2f}' if key in vals else '-' for key, _ in present
        ]
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
