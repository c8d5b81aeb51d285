"""What several benchmarks under ``tools/benchmark`` share.

Modules: :mod:`.stats` (mean ± std over seeds, Spearman's rank
correlation, regret on a grid), :mod:`.timing` (interleaved median timings
and the machine they hold for), :mod:`.training` (one optimizer step on a
model's summed losses), :mod:`.plan` (the converged benchmark's plan and its
wall time from unit costs: ``recipe_budget.py`` and the regime pilot).
"""
