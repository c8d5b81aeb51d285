"""Proxy search over ``(C, w_A)`` from the stage-1 statistics files.

The stage-1 statistics files are read and paired by
:func:`~.fisher.load_stats` (their format: :mod:`.fisher`);
this module owns the search and its result format ``search.json`` (written
here, read by stage 2).

**Search result** ``search.json`` (see :func:`run_search`)::

    {"chosen": {"C": int, "w_A": float, "w_B": float, "proxy": float},
     "variant": "full" | "paper",
     "mismatch": "debiased" | "debiased-positive" | "raw",
     "N": float, "L": int, "w_grid": [...],
     "noise_scale": "asymptotic" | "sgd",  # with "sgd": "N_data" too
     "grid": {"proxy": [[...]], "enc_var": ..., "enc_bias": ...,
              "dec_var": ...},            # rows C = 0..L, columns w_grid
     "per_depth": [{"C", "w_A", "proxy"}, ...],
     "diagnostics": {..., "per_layer_mismatch": [...]},
     "inputs": {...}, "timings": {...}}

``diagnostics.per_layer_mismatch`` holds, per layer ``0..L``, the measured
``sum delta_j^2`` against the summed noise ``n_j`` of the stage-1
difference (:func:`~.proxy.layer_mismatch`): whether the two task models
differ by more than noise, the premise of the proxy.

The ``'paper'`` variant uses the empirical Fisher ``v`` of each task as its
Fisher (``h := v``, ``k = 0``), as the paper does; ``'full'`` uses ``h``,
``v`` and ``k``.
"""
import json
import time
from typing import Optional

import torch

from mmpretrain_osdtw.utils import atomic_write
from .proxy import (DEFAULT_CHUNK_BYTES, NOISE_SCALES, ProxyGrid,
                    layer_mismatch, make_w_grid, proxy_grid,
                    sgd_effective_num_samples, without_sgd_noise)
from .fisher import load_stats


# ----------------------------------------------------------- search
def run_search(head_path: str,
               tail_path: str,
               cross_path: Optional[str] = None,
               w_step: float = 0.01,
               w_min: float = 0.0,
               w_max: float = 1.0,
               variant: str = 'full',
               mismatch: str = 'debiased',
               max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
               noise_scale: str = 'asymptotic') -> dict:
    """Load the statistics, evaluate the proxy grid and pick ``(C, w_A)``.

    Args:
        head_path (str): ``fisher_head.pth``.
        tail_path (str): ``fisher_tail.pth``.
        cross_path (str, optional): ``fisher_cross.pth`` (``k = 0``
            without it).
        w_step (float): Spacing of the ``w_A`` grid. Defaults to 0.01.
        w_min (float): Smallest ``w_A``. Defaults to 0.
        w_max (float): Largest ``w_A``. Defaults to 1.
        variant (str): ``'full'`` (default) or ``'paper'``.
        mismatch (str): ``'debiased'`` (default), ``'debiased-positive'``
            or ``'raw'`` (see :mod:`.proxy`).
        max_chunk_bytes (int): Memory budget of the proxy's chunks.
        noise_scale (str): ``'asymptotic'`` (default: the ``1/N`` of the
            formulas, the SGD noise of the files added to the mismatch
            noise) or ``'sgd'``: ``N`` calibrated so that the asymptotic
            noise of the body slots sums to their SGD noise, which the files
            must carry (:mod:`.proxy.noise_scale`); ``search.json`` then
            keeps the file's ``N`` as ``N_data`` and the calibrated one as
            ``N``.

    Returns:
        dict: The ``search.json`` content (see the module docstring).
    """
    if noise_scale not in NOISE_SCALES:
        raise ValueError(f'noise_scale must be one of {NOISE_SCALES}, got '
                         f'{noise_scale!r}')
    start = time.perf_counter()
    w_grid = make_w_grid(w_step, w_min, w_max)
    inputs = load_stats(head_path, tail_path, cross_path)
    stats, num_samples = inputs.for_variant(variant), inputs.num_samples
    if noise_scale == 'sgd':
        num_samples = sgd_effective_num_samples(stats, inputs.num_layers,
                                                num_samples, variant)
        stats = without_sgd_noise(stats)
    loaded = time.perf_counter()
    grid = proxy_grid(
        stats,
        inputs.num_layers,
        num_samples,
        w_grid=w_grid,
        variant=variant,
        mismatch=mismatch,
        max_chunk_bytes=max_chunk_bytes)
    done = time.perf_counter()
    result = grid.to_dict()
    # the diagnosis at the data's N, with the SGD noise when the files have it
    result['diagnostics']['per_layer_mismatch'] = layer_mismatch(
        inputs.for_variant(variant), inputs.num_layers, inputs.num_samples,
        tuple(result['diagnostics']['zero_thresholds']), variant)
    result['N'] = num_samples
    result['noise_scale'] = noise_scale
    if noise_scale == 'sgd':
        result['N_data'] = inputs.num_samples
    result['inputs'] = dict(
        inputs.paths, has_cross=cross_path is not None, w_step=w_step)
    result['timings'] = dict(
        load_s=loaded - start, proxy_s=done - loaded, total_s=done - start)
    return result


def result_grid(result: dict) -> ProxyGrid:
    """Rebuild a :class:`ProxyGrid` from a ``search.json`` dict."""
    grid = result['grid']

    def tensor(key: str) -> torch.Tensor:
        return torch.tensor(grid[key], dtype=torch.float64)

    return ProxyGrid(
        tensor('proxy'), tensor('enc_var'), tensor('enc_bias'),
        tensor('dec_var'), torch.tensor(result['w_grid'], dtype=torch.float64),
        int(result['L']), float(result['N']), result['variant'],
        result['mismatch'], result.get('diagnostics', {}))


# ----------------------------------------------------------- writing
def save_search_json(result: dict, path: str) -> None:
    """Write the search result as JSON, atomically.

    Args:
        result (dict): The output of :func:`run_search`.
        path (str): Target file, e.g. ``work_dir/search.json``.
    """

    def write(tmp: str) -> None:
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=1, allow_nan=False)
            f.write('\n')

    atomic_write(path, write)


#: The colour scale of :func:`plot_heatmap` ends at this percentile of
#: ``P - min P``; brighter cells lie above it.
HEATMAP_CLIP_PERCENTILE = 95.0


def plot_heatmap(result: dict, png_path: str) -> None:
    """Plot ``P(C, w_A)`` as a heat map with the argmin marked, atomically.

    The colour is ``P(C, w_A) - min P`` on a linear scale that ends at the
    :data:`HEATMAP_CLIP_PERCENTILE`-th percentile of the grid (cells above it
    are grey), so the grid's steep ``w_A`` edges do not flatten
    the rows; each row's tick label gives its own minimum above ``min P``.
    The legend sits below the axes. Uses matplotlib's Agg canvas directly
    (no pyplot global state).

    Args:
        result (dict): The output of :func:`run_search`.
        png_path (str): Target PNG file.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    proxy = torch.tensor(result['grid']['proxy'], dtype=torch.float64)
    excess = proxy - proxy.min()
    w_grid = result['w_grid']
    num_rows = excess.shape[0]
    top = float(
        torch.quantile(excess.flatten(), HEATMAP_CLIP_PERCENTILE / 100.0))
    if not top > 0:
        top = float(excess.max()) or 1.0
    fig = Figure(figsize=(8, 2.4 + 0.35 * num_rows))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    half = (w_grid[1] - w_grid[0]) / 2 if len(w_grid) > 1 else 0.5
    image = ax.imshow(
        excess.tolist(),
        aspect='auto',
        origin='lower',
        cmap=colormaps['viridis'].with_extremes(over='lightgrey'),
        vmin=0.0,
        vmax=top,
        interpolation='nearest',
        extent=(w_grid[0] - half, w_grid[-1] + half, -0.5, num_rows - 0.5))
    fig.colorbar(
        image,
        ax=ax,
        extend='max' if float(excess.max()) > top else 'neither',
        label=f'P(C, w_A) - min P\n(grey: above the '
        f'{HEATMAP_CLIP_PERCENTILE:g}th percentile)')
    best = result['per_depth']
    ax.plot([b['w_A'] for b in best], [b['C'] for b in best],
            marker='o',
            color='white',
            markeredgecolor='black',
            markersize=5,
            linestyle='none',
            label='best w_A per C')
    chosen = result['chosen']
    ax.plot([chosen['w_A']], [chosen['C']],
            marker='*',
            color='red',
            markersize=14,
            markeredgecolor='white',
            linestyle='none',
            label=f"argmin C={chosen['C']}, w_A={chosen['w_A']:g}")
    row_min = excess.min(1).values.tolist()
    ax.set_yticks(range(num_rows))
    ax.set_yticklabels([f'{c}  (+{m:.3g})' for c, m in enumerate(row_min)])
    ax.set_xlabel('w_A (head task weight)')
    ax.set_ylabel('shared depth C  (min_w P(C, .) - min P)')
    ax.set_title(f"OSDTW proxy ({result['variant']}, {result['mismatch']} "
                 f"mismatch, N={result['N']})")
    ax.legend(
        loc='upper center',
        bbox_to_anchor=(0.5, -0.22),
        ncol=2,
        fontsize='small',
        frameon=False)
    fig.tight_layout()
    atomic_write(png_path, lambda tmp: fig.savefig(tmp, format='png', dpi=100))
