"""OSDTW proxy: choose the shared depth ``C`` and head weight ``w_A``.

- :mod:`.fisher`: stage 1's Fisher pass (per-sample gradients, ``v``,
  ``h``, ``k``, pure math on tensors), its statistics files (format,
  pairing of the two task files) and its jobs.
- :mod:`.proxy`: the bias-variance proxy, pure math on tensors.
- :mod:`.search`: the search over ``(C, w_A)`` and the ``search.json`` /
  heat-map outputs.
- :mod:`.choice`: the chosen ``(C, w_A, L)`` that the later stages consume.
- :mod:`.sgd_noise`: a task's SGD noise from a second stage-1 seed, into
  its statistics file.
"""
from .choice import TaskPairChoice
from .fisher import (FORMAT_VERSION, CrossStats, ProxyInputs, TaskStats,
                     TaskStatsPair, check_statistics, cross_task_statistics,
                     fisher_statistics, label_uniforms, load_stats, model_meta,
                     param_layer_map, per_sample_task_grads)
from .fisher.cross_stats import load_cross_stats, save_cross_stats
from .fisher.task_stats import load_task_stats, save_task_stats
from .proxy import (DEFAULT_CHUNK_BYTES, MISMATCHES, VARIANTS, ZERO_FISHER_REL,
                    ProxyGrid, SlotCosts, TaskPairStats, debiased_delta2,
                    make_w_grid, mismatch_noise, proxy_grid, validate_stats,
                    zero_fisher_threshold)
from .search import plot_heatmap, result_grid, run_search, save_search_json

__all__ = [
    'DEFAULT_CHUNK_BYTES', 'MISMATCHES', 'VARIANTS', 'ZERO_FISHER_REL',
    'ProxyGrid', 'SlotCosts', 'TaskPairStats', 'debiased_delta2',
    'make_w_grid', 'mismatch_noise', 'proxy_grid', 'validate_stats',
    'zero_fisher_threshold', 'FORMAT_VERSION', 'ProxyInputs',
    'load_cross_stats', 'load_stats', 'load_task_stats', 'plot_heatmap',
    'result_grid', 'run_search', 'save_search_json', 'check_statistics',
    'cross_task_statistics', 'fisher_statistics', 'label_uniforms',
    'model_meta', 'param_layer_map', 'per_sample_task_grads',
    'save_cross_stats', 'save_task_stats', 'TaskPairChoice', 'TaskStats',
    'CrossStats', 'TaskStatsPair'
]
