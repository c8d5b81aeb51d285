"""Choose ``(C, w_A)`` on a held-out validation split instead of the proxy.

``train_cfg.choose='validation'`` of the pipeline config
(:class:`~mmpretrain_osdtw.engine.runner.StageRunner`) reads
``train_cfg.validation``, checked by :func:`check_validation_cfg`:

==============  ===========================================================
key             meaning (default)
==============  ===========================================================
``dataset``     the held-out split, a dataset dict (required); never the
                stage configs' test set
``depths``      the shared depths ``C`` tried, ints in ``0..L`` (None:
                every depth ``0..L``)
``weights``     the head weights ``w_A`` tried, each in ``(0, 1)``; one
                stage-2 model is trained per weight (``(0.3, 0.5, 0.7)``)
``metric``      what the choice maximises: ``'top1'`` (default) or
                ``'mean_class_acc'``; or minimises: ``'nll'`` (the
                ``ShotGroupMetric`` keys)
==============  ===========================================================

The choice rule (:func:`choose_cell`): the best score; ties go to the
larger ``C`` (the cheaper model: more shared blocks), then to the ``w_A``
closer to 0.5, then to the smaller ``w_A``. ``C = 0`` shares nothing and is
one cell whatever ``w_A``; its ``w_A`` (used only by the refinement's loss)
is the weight of ``weights`` closest to 0.5.

**Result** ``validation_choice.json`` (:func:`choice_result`)::

    {"metric": "top1", "metric_key": "lt/top1", "higher_is_better": true,
     "L": int, "depths": [...], "weights": [...],
     "cells": [{"C": int, "w_A": float | null, "score": float,
                "metrics": {...}, "seconds": float, "reused": bool}, ...],
     "chosen": {"C": int, "w_A": float, "score": float},
     "rule": "...", "seconds": {"assemble": s, "evaluate": s, "total": s}}
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

from mmpretrain_osdtw.utils import InputError, atomic_write, did_you_mean

#: ``train_cfg.validation``'s keys.
VALIDATION_KEYS = ('dataset', 'depths', 'weights', 'metric')
#: ``train_cfg.choose``'s values: the proxy search (default) or the
#: validation split.
CHOOSE_MODES = ('proxy', 'validation')
#: The metrics a choice may use: ``{name: higher is better}``.
METRICS = {'top1': True, 'mean_class_acc': True, 'nll': False}
DEFAULT_WEIGHTS = (0.3, 0.5, 0.7)
DEFAULT_METRIC = 'top1'
#: ``ShotGroupMetric``'s key prefix.
METRIC_PREFIX = 'lt/'
RULE = ('best score; ties: larger C (cheaper model), then w_A closer to '
        '0.5, then smaller w_A; C = 0 is one cell (w_A: the weight closest '
        'to 0.5)')


def _fail(key: str, message: str) -> None:
    raise InputError(f'train_cfg.validation.{key} {message}')


def check_validation_cfg(choose: str,
                         validation: Optional[dict],
                         num_layers: Optional[int] = None) -> dict:
    """Check ``train_cfg.choose`` and ``train_cfg.validation``; return the
    validation settings with their defaults (``depths`` None: every depth).

    Args:
        choose (str): One of :data:`CHOOSE_MODES`.
        validation (dict, optional): The settings (see the module doc).
            Checked in both modes (a typo shows at once); read only with
            ``choose='validation'``, which needs ``dataset``.
        num_layers (int, optional): ``L`` of the ViT, when known: the
            depths must lie in ``0..L``.

    Returns:
        dict: ``dataset``, ``depths`` (a sorted list or None), ``weights``
        (a sorted list of floats) and ``metric``.

    Raises:
        InputError: One line naming the key.
    """
    if choose not in CHOOSE_MODES:
        raise InputError(f'train_cfg.choose must be one of {CHOOSE_MODES}, '
                         f'got {choose!r}')
    if validation is not None and not isinstance(validation, dict):
        raise InputError('train_cfg.validation must be a dict, got '
                         f'{type(validation).__name__}')
    settings = dict(validation or {})
    for key in settings:
        if key not in VALIDATION_KEYS:
            raise InputError(f'train_cfg.validation.{key} is not a setting '
                             'of the validation choice'
                             f'{did_you_mean(key, VALIDATION_KEYS)}')
    dataset = settings.get('dataset')
    if dataset is None:
        if choose == 'validation':
            _fail('dataset', "is missing: train_cfg.choose='validation' "
                  'needs the held-out split to choose on (a dataset dict, '
                  'not the test set)')
    elif not isinstance(dataset, dict) or 'type' not in dataset:
        _fail('dataset', f'must be a dataset dict with a type, got '
              f'{dataset!r}')
    depths = settings.get('depths')
    if depths is not None:
        depths = _check_list('depths', depths)
        for depth in depths:
            if isinstance(depth, bool) or not isinstance(depth, int) or \
                    depth < 0:
                _fail('depths', f'must hold ints >= 0, got {depth!r}')
            if num_layers is not None and depth > num_layers:
                _fail('depths', f'holds {depth}, outside 0..{num_layers} '
                      f'(the ViT has {num_layers} blocks)')
        depths = sorted(set(depths))
    weights = _check_list('weights', settings.get('weights', DEFAULT_WEIGHTS))
    for weight in weights:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) \
                or not 0.0 < weight < 1.0:
            _fail('weights', f'must hold numbers in (0, 1), got {weight!r}')
    names = {f'{float(w):g}' for w in weights}
    if len(names) < len({float(w) for w in weights}):
        _fail('weights', f'holds weights that differ beyond 6 digits '
              f'({weights!r}): each names a step, validation_stage2_w<w>')
    metric = settings.get('metric', DEFAULT_METRIC)
    if metric not in METRICS:
        _fail('metric', f'must be one of {tuple(METRICS)}, got {metric!r}')
    return dict(
        dataset=dataset,
        depths=depths,
        weights=sorted({float(w) for w in weights}),
        metric=metric)


def _check_list(key: str, values) -> list:
    if not isinstance(values, (list, tuple)) or not values:
        _fail(key, f'must be a non-empty list, got {values!r}')
    return list(values)


def check_not_test_set(dataset: dict, test_sets: Dict[str, dict]) -> None:
    """Refuse a validation dataset equal to a stage config's test set.

    Args:
        dataset (dict): ``train_cfg.validation.dataset``.
        test_sets (dict): ``{stage key: its test_dataloader.dataset}``.

    Raises:
        InputError: One line naming the stage config.
    """
    mine = _plain(dataset)
    for name, test_set in test_sets.items():
        if test_set is not None and _plain(test_set) == mine:
            raise InputError(
                f'train_cfg.validation.dataset is the test set of '
                f'train_cfg.{name} (its test_dataloader.dataset): choosing '
                'on it would leak the test set; give a held-out split, e.g. '
                "LongTailedDataset(split='heldout', ...)")


def _plain(obj):
    """A config value as plain dicts and lists, ``_delete_`` left out."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items() if k != '_delete_'}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def vit_num_layers(model_cfg) -> Optional[int]:
    """``L`` of a config's ViT backbone (``arch`` dict or name), or None
    when the config does not say."""
    backbone = (model_cfg or {}).get('backbone') or {}
    arch = backbone.get('arch')
    if isinstance(arch, dict):
        return arch.get('num_layers')
    if isinstance(arch, str):
        from mmpretrain.models import VisionTransformer
        zoo = VisionTransformer.arch_zoo
        return zoo.get(arch.lower(), {}).get('num_layers')
    return None


def grid_cells(depths: Sequence[int],
               weights: Sequence[float]) -> List[Tuple[int, Optional[float]]]:
    """The ``(C, w_A)`` cells to evaluate: ``(0, None)`` once for ``C = 0``
    (nothing shared: the stage-1 pair), every weight for each ``C > 0``."""
    cells: List[Tuple[int, Optional[float]]] = []
    for depth in depths:
        if depth == 0:
            cells.append((0, None))
        else:
            cells.extend((depth, float(w)) for w in weights)
    return cells


def _from_half(weight: float) -> float:
    """``|w - 0.5|``, rounded: 0.3 and 0.7 are equally far."""
    return round(abs(weight - 0.5), 9)


def closest_to_half(weights: Sequence[float]) -> float:
    """The weight closest to 0.5 (the smaller one on a tie)."""
    return min(weights, key=lambda w: (_from_half(w), w))


def choose_cell(cells: Sequence[dict], metric: str,
                weights: Sequence[float]) -> dict:
    """The chosen cell (see :data:`RULE`).

    Args:
        cells (Sequence[dict]): ``{'C', 'w_A', 'score'}`` each (``w_A``
            None for ``C = 0``).
        metric (str): One of :data:`METRICS`.
        weights (Sequence[float]): The weights tried (``w_A`` of ``C = 0``).

    Returns:
        dict: ``{'C', 'w_A', 'score'}``.

    Raises:
        ValueError: If no cell has a finite score.

    Example:
        >>> choose_cell([dict(C=0, w_A=None, score=80.0),
        ...              dict(C=2, w_A=0.3, score=80.0),
        ...              dict(C=2, w_A=0.5, score=80.0)], 'top1', [0.3, 0.5])
        {'C': 2, 'w_A': 0.5, 'score': 80.0}
    """
    sign = -1.0 if METRICS[metric] else 1.0
    half = closest_to_half(weights)
    finite = [c for c in cells if math.isfinite(c['score'])]
    if not finite:
        raise ValueError(f'no validation cell has a finite {metric} score')

    def order(cell):
        weight = half if cell['w_A'] is None else cell['w_A']
        return (sign * cell['score'], -cell['C'], _from_half(weight), weight)

    best = min(finite, key=order)
    weight = half if best['w_A'] is None else best['w_A']
    return dict(C=int(best['C']), w_A=float(weight), score=best['score'])


def metric_key(metric: str) -> str:
    """The evaluator's key of ``metric`` (``'lt/top1'``)."""
    return METRIC_PREFIX + metric


def choice_result(cells: List[dict], settings: dict, num_layers: int,
                  seconds: Dict[str, float]) -> dict:
    """The content of ``validation_choice.json`` (see the module doc)."""
    metric = settings['metric']
    return dict(
        metric=metric,
        metric_key=metric_key(metric),
        higher_is_better=METRICS[metric],
        L=num_layers,
        depths=list(settings['depths']),
        weights=list(settings['weights']),
        cells=cells,
        chosen=choose_cell(cells, metric, settings['weights']),
        rule=RULE,
        seconds={k: round(v, 3) for k, v in seconds.items()})


def plot_validation_heatmap(result: dict, png_path: str) -> None:
    """The validation scores over ``(C, w_A)`` as a heat map, each cell
    labelled, the chosen one starred (matplotlib's Agg canvas, atomically).

    Args:
        result (dict): The content of ``validation_choice.json``.
        png_path (str): Target PNG file.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    depths, weights = result['depths'], result['weights']
    scores = {(c['C'], c['w_A']): c['score'] for c in result['cells']}
    grid = [[scores.get((d, None if d == 0 else w), math.nan)
             for w in weights] for d in depths]
    fig = Figure(figsize=(2.0 + 1.1 * len(weights), 1.8 + 0.5 * len(depths)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    cmap = 'viridis' if result['higher_is_better'] else 'viridis_r'
    image = ax.imshow(grid, aspect='auto', origin='lower',
                      cmap=colormaps[cmap], interpolation='nearest')
    fig.colorbar(image, ax=ax, label=f"validation {result['metric']}")
    for row, line in enumerate(grid):
        for col, value in enumerate(line):
            ax.text(col, row, f'{value:.3g}', ha='center', va='center',
                    color='white', fontsize='small')
    chosen = result['chosen']
    row = depths.index(chosen['C'])
    col = weights.index(chosen['w_A']) if chosen['C'] else None
    cols = range(len(weights)) if col is None else [col]
    # in the cell's corner, beside its label
    ax.plot([c + 0.32 for c in cols], [row + 0.28] * len(cols),
            marker='*', color='red', markersize=12, markeredgecolor='white',
            linestyle='none',
            label=f"chosen C={chosen['C']}, w_A={chosen['w_A']:g}")
    ax.set_xticks(range(len(weights)))
    ax.set_xticklabels([f'{w:g}' for w in weights])
    ax.set_yticks(range(len(depths)))
    ax.set_yticklabels([str(d) for d in depths])
    ax.set_xlabel('w_A (head task weight)')
    ax.set_ylabel('shared depth C')
    ax.set_title('OSDTW choice on the validation split')
    ax.legend(loc='upper center', bbox_to_anchor=(0.5, -0.25),
              fontsize='small', frameon=False)
    fig.tight_layout()
    atomic_write(png_path, lambda tmp: fig.savefig(tmp, format='png', dpi=100))
