"""The converged CIFAR-10-LT benchmark (issue 11): every method fine-tuned
from one MGP checkpoint with one recipe, the paper's ablations, the proxy
against measured error. ``python -m tools.benchmark.converged --help``;
protocol and budget: ``docs/benchmarks/converged.md``.

Modules: :mod:`.jobs` (the protocol as data), :mod:`.execute` (resumable
execution), :mod:`.results` (readers, aggregation), :mod:`.plots`,
:mod:`.cli` (the command line).
"""
