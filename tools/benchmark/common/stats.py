"""Statistics the benchmarks report.

Mean and sample standard deviation over seeds (and their ``'mean ± std'``
text), Spearman's rank correlation (over a grid and within each of its
depths), and the regret of a grid cell chosen by a proxy. Pure Python, no
torch.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

#: A cell of the ``(C, w_A)`` grid: shared depth and head-task weight.
Point = Tuple[int, float]


def mean_std(values: Sequence[Optional[float]]) -> Tuple[float, float, int]:
    """Mean, sample standard deviation (0 for one value) and count of the
    finite values.

    Example:
        >>> mean_std([1.0, 3.0])
        (2.0, 1.4142135623730951, 2)
    """
    vals = [float(v) for v in values
            if v is not None and math.isfinite(float(v))]
    if not vals:
        return float('nan'), float('nan'), 0
    mean = sum(vals) / len(vals)
    if len(vals) == 1:
        return mean, 0.0, 1
    var = sum((v - mean)**2 for v in vals) / (len(vals) - 1)
    return mean, math.sqrt(var), len(vals)


def format_mean_std(values: Sequence[Optional[float]],
                    digits: int = 1) -> str:
    """``'mean ± std'`` (the mean alone for one value, ``'-'`` for none)."""
    mean, std, n = mean_std(values)
    if n == 0:
        return '-'
    if n == 1:
        return f'{mean:.{digits}f}'
    return f'{mean:.{digits}f} ± {std:.{digits}f}'


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties); nan for
    fewer than 3 pairs or a constant input.

    Example:
        >>> spearman([1, 2, 3, 4], [10, 20, 40, 30])
        0.8
    """
    if len(x) != len(y):
        raise ValueError(f'spearman: {len(x)} vs {len(y)} values')
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return float('nan')
    rx, ry = _ranks(x), _ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    vx = sum((a - mx)**2 for a in rx)
    vy = sum((b - my)**2 for b in ry)
    return round(cov / math.sqrt(vx * vy), 12)


def _ranks(values: Sequence[float]) -> List[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def spearman_within_depth(proxy: Dict[Point, float],
                          measured: Dict[Point, float]) -> Dict[int, float]:
    """``{C: Spearman over that depth's w_A values}`` (nan where fewer than
    3 points or a constant input)."""
    out = {}
    for depth in sorted({p[0] for p in measured}):
        points = sorted(p for p in measured if p[0] == depth)
        out[depth] = spearman([proxy[p] for p in points],
                              [measured[p] for p in points])
    return out


def regret(errors: Dict[Point, float], choice: Point) -> float:
    """Excess top-1 error (points) of ``choice`` over the grid's best
    cell."""
    return errors[choice] - min(errors.values())


#: Two-sided 95 % quantiles of Student's t, by degrees of freedom (1-30);
#: above 30 the normal's 1.96 is used (the t quantile is below 2.05 there).
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262,
         2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101,
         2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052,
         2.048, 2.045, 2.042)


def paired_difference(a: Dict[int, float],
                      b: Dict[int, float]) -> Optional[dict]:
    """Mean of ``a[s] - b[s]`` over the seeds both have, with its 95 %
    interval from Student's t (``n - 1`` degrees of freedom): the seeds
    pair the runs (same data order and initial draws), so the
    seed-to-seed part of the spread cancels.

    Args:
        a, b: ``{seed: value}`` (e.g. test top-1 of two methods).

    Returns:
        dict | None: ``mean``, ``low``, ``high``, ``n`` and ``seeds``; None
        below two common seeds (no interval).

    Example:
        >>> d = paired_difference({0: 41.0, 1: 42.0, 2: 40.0},
        ...                       {0: 36.0, 1: 36.5, 2: 35.5})
        >>> round(d['mean'], 3), round(d['high'] - d['mean'], 3)
        (5.0, 1.242)
    """
    seeds = sorted(set(a) & set(b))
    diffs = [float(a[s]) - float(b[s]) for s in seeds]
    if len(diffs) < 2:
        return None
    mean, std, n = mean_std(diffs)
    t = T_975[n - 2] if n - 1 <= len(T_975) else 1.96
    half = t * std / math.sqrt(n)
    return dict(mean=mean, low=mean - half, high=mean + half, n=n,
                seeds=seeds)


def format_interval(diff: Optional[dict], digits: int = 1) -> str:
    """``'+5.0 [3.8, 6.2] (n=3)'`` (``'-'`` for None)."""
    if diff is None:
        return '-'
    return (f'{diff["mean"]:+.{digits}f} [{diff["low"]:.{digits}f}, '
            f'{diff["high"]:.{digits}f}] (n={diff["n"]})')
