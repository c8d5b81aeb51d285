"""Plots of the converged benchmark (matplotlib, Agg; no display needed)."""
import math
from typing import Dict, List, Optional, Sequence, Tuple

from ..common.stats import mean_std
from .results import score_label


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def plot_curves(curves: Dict[str, List[Sequence[Sequence[float]]]],
                path: str) -> bool:
    """Test top-1 per epoch (the monitor), mean ± std over seeds, one line
    per method.

    Args:
        curves: ``{label: [curve of a seed, ...]}``, a curve being
            ``[[epoch, top1], ...]``.
        path: The PNG to write.

    Returns:
        bool: Whether anything was plotted.
    """
    curves = {k: [c for c in v if c] for k, v in curves.items()}
    curves = {k: v for k, v in curves.items() if v}
    if not curves:
        return False
    fig = _figure(7.0, 4.4)
    ax = fig.add_subplot(1, 1, 1)
    for label, runs in curves.items():
        epochs = sorted({int(e) for run in runs for e, _ in run})
        stats = [
            mean_std([dict((int(e), v) for e, v in run).get(ep)
                      for run in runs]) for ep in epochs
        ]
        mean = [s[0] for s in stats]
        std = [s[1] for s in stats]
        ax.plot(epochs, mean, marker='.', label=f'{label} ({len(runs)})')
        ax.fill_between(epochs, [m - s for m, s in zip(mean, std)],
                        [m + s for m, s in zip(mean, std)],
                        alpha=0.2)
    ax.set_xlabel('epoch')
    ax.set_ylabel('test top-1 (%), monitor only')
    ax.set_title('CIFAR-10-LT: test accuracy per epoch (mean ± std over '
                 'seeds)')
    ax.legend(fontsize='small')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def minimum_cells(mat: Sequence[Sequence[float]]) -> List[Tuple[int, int]]:
    """``(row, column)`` of every finite cell equal to the matrix's smallest
    finite value (a tie frames them all); ``[]`` when none is finite."""
    flat = [(v, r, c) for r, row in enumerate(mat)
            for c, v in enumerate(row) if math.isfinite(v)]
    if not flat:
        return []
    lowest = min(v for v, _, _ in flat)
    return [(r, c) for v, r, c in flat
            if math.isclose(v, lowest, rel_tol=1e-9, abs_tol=1e-12)]


def panel_scale(mat: Sequence[Sequence[float]]) -> int:
    """The power of ten that brings a panel's values to a readable size in
    a small cell (0 when they already are: largest magnitude in
    ``[0.01, 10000)``, or no finite value)."""
    peak = max((abs(v) for row in mat for v in row if math.isfinite(v)),
               default=0.0)
    if peak == 0.0 or 1e-2 <= peak < 1e4:
        return 0
    return math.floor(math.log10(peak))


def draw_grid_panel(fig, ax, mat: Sequence[Sequence[float]],
                    depths: Sequence[int], weights: Sequence[float],
                    name: str, fmt: str = '.3g') -> None:
    """One (C, w_A) heat-map panel: the matrix (rows C, columns w_A), its
    values written in the cells, the axes labelled."""
    from matplotlib.patheffects import withStroke
    outline = withStroke(linewidth=2, foreground='white')
    image = ax.imshow(mat, origin='lower', cmap='viridis_r', aspect='auto')
    fig.colorbar(image, ax=ax, fraction=0.046)
    for r, row in enumerate(mat):
        for c, v in enumerate(row):
            if math.isfinite(v):
                ax.text(c, r, format(v, fmt), ha='center', va='center',
                        fontsize=7, path_effects=[outline])
    ax.set_xticks(range(len(weights)))
    ax.set_xticklabels([f'{w:.1f}' for w in weights])
    ax.set_yticks(range(len(depths)))
    ax.set_yticklabels([str(d) for d in depths])
    ax.set_xlabel('w_A')
    ax.set_ylabel('C')
    ax.set_title(name, fontsize=9)


def plot_grid(analysis: Dict[str, dict], path: str,
              title: Optional[str] = None) -> bool:
    """Heat maps over (C, w_A): measured top-1 error of the refined model,
    test NLL of the assembled model and the proxy of each mismatch
    estimate (a red frame marks each panel's minimum, every cell of a
    tie)."""
    if not analysis:
        return False
    from matplotlib.patches import Rectangle
    first = next(iter(analysis.values()))
    depths = sorted({c[0] for c in first['cells']})
    weights = sorted({c[1] for c in first['cells']})

    def matrix(cells, index):
        vals = {(c[0], c[1]): c[index] for c in cells}
        return [[
            float('nan') if vals.get((d, w)) is None else vals[(d, w)]
            for w in weights
        ] for d in depths]

    panels = [('top-1 error (%), refined', matrix(first['cells'], 2)),
              ('test NLL, assembled', matrix(first['cells'], 3))]
    for mismatch, a in analysis.items():
        panels.append((score_label(mismatch), matrix(a['cells'], 4)))
    fig = _figure(3.4 * len(panels), 3.3)
    for i, (name, mat) in enumerate(panels):
        exponent = panel_scale(mat)
        if exponent:
            mat = [[v / 10**exponent for v in row] for row in mat]
            name = f'{name}, x 1e{exponent}'
        ax = fig.add_subplot(1, len(panels), i + 1)
        draw_grid_panel(fig, ax, mat, depths, weights, name)
        for r, c in minimum_cells(mat):
            ax.add_patch(
                Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False,
                          edgecolor='red', linewidth=2.5))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def plot_grid_across_seeds(cells: Dict[Tuple[int, float], Dict[str, list]],
                           path: str) -> bool:
    """Heat maps over (C, w_A) of every seed's grid together: the refined
    model's test top-1 error, mean and standard deviation over the seeds
    that ran each cell (the spread a regret is read against).

    Args:
        cells: :func:`~.results.grid_across_seeds`'s output.
        path: The PNG to write.

    Returns:
        bool: Whether anything was plotted (two seeds or more).
    """
    if not cells or max(len(c['seeds']) for c in cells.values()) < 2:
        return False
    depths = sorted({c for c, _ in cells})
    weights = sorted({w for _, w in cells})
    stats = {
        p: mean_std([None if v is None else 100.0 - v for v in c['top1']])
        for p, c in cells.items()
    }
    seeds = sorted({s for c in cells.values() for s in c['seeds']})
    panels = [('top-1 error (%), refined: mean', 0), ('its std', 1)]
    fig = _figure(7.0, 3.3)
    for i, (name, index) in enumerate(panels):
        mat = [[
            stats[(d, w)][index] if (d, w) in stats else float('nan')
            for w in weights
        ] for d in depths]
        draw_grid_panel(fig, fig.add_subplot(1, 2, i + 1), mat, depths,
                        weights, name, '.2f')
    fig.suptitle('the grid over seeds ' + ', '.join(map(str, seeds)),
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True
