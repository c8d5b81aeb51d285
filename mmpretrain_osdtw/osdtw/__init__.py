"""OSDTW proxy: choose the shared depth ``C`` and head weight ``w_A``.

- :mod:`.proxy`: the bias-variance proxy, pure math on tensors.
- :mod:`.search`: the stage-1 statistics format, the search over
  ``(C, w_A)`` and the ``search.json`` / heat-map outputs.
"""
from .proxy import (DEFAULT_CHUNK_BYTES, MISMATCHES, VARIANTS, ZERO_FISHER_REL,
                    ProxyGrid, SlotCosts, TaskPairStats, debiased_delta2,
                    full_matrix_proxy, make_w_grid, mismatch_noise, proxy_grid,
                    slot_costs, validate_stats, zero_fisher_threshold)
from .search import (FORMAT_VERSION, ProxyInputs, load_cross_stats, load_stats,
                     load_task_stats, plot_heatmap, result_grid, run_search,
                     save_search_json)

__all__ = [
    'DEFAULT_CHUNK_BYTES', 'MISMATCHES', 'VARIANTS', 'ZERO_FISHER_REL',
    'ProxyGrid', 'SlotCosts', 'TaskPairStats', 'debiased_delta2',
    'full_matrix_proxy', 'make_w_grid', 'mismatch_noise', 'proxy_grid',
    'slot_costs', 'validate_stats', 'zero_fisher_threshold', 'FORMAT_VERSION',
    'ProxyInputs', 'load_cross_stats', 'load_stats', 'load_task_stats',
    'plot_heatmap', 'result_grid', 'run_search', 'save_search_json'
]
