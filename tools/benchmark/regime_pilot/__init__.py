"""The regime pilot of the converged CIFAR-10-LT benchmark (issue 18): which
ViT, MGP length and fine-tuning length the benchmark should use, chosen on
the validation split within a wall-time budget.
``python -m tools.benchmark.regime_pilot --help``; protocol and budget:
``docs/benchmarks/regime_pilot.md``.

Each variant (a regime: patch size, width, MGP epochs, fine-tuning epochs,
named ``p<P>_d<D>_m<M>_e<E>``) is a setting of the converged driver
(:mod:`tools.benchmark.converged`) with Bal-BCE and LA-CE on seed 0: its
MGP run (shared by variants that differ only in fine-tuning epochs), then
the two fine-tunings, each tested on the test set and on the validation
(held-out) split. For each variant the pilot records the validation top-1
of both methods, their test top-1 (reported, never used to choose), the
measured fine-tuning throughput (training images per second of a training
run's wall time) and MGP's seconds, and from them the estimated wall time
of the whole protocol in that regime: 3 seeds of the main table, one w_A
sweep and grid, MGP once, 2 single-thread jobs at a time
(:mod:`tools.benchmark.common.plan`, the plan of
``tools/benchmark/recipe_budget.py``, with the unit costs the variant
measured, calibrated on the finished converged benchmark).

The rule: the chosen regime is the variant with the highest mean
validation top-1 of Bal-BCE and LA-CE among the finished variants whose
estimated protocol wall time is at most 15 h (``--budget-h``); a tie goes
to the cheaper estimate; if none fits, none is chosen (the output names
the cheapest). Test top-1 never enters.

The convergence check (issue 18, item 2): for a regime at E and 2E
fine-tuning epochs, ``|val top-1 (2E) - val top-1 (E)|`` per method, and
whether both are below 1 point (:func:`.pilot.convergence_check`; the
aggregate reports every such pair among the variants).

Modules: :mod:`.pilot` (pure parts: variants, records, estimate, choice,
convergence check, tables), :mod:`.cli` (the command line).
"""
