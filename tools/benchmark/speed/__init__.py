"""Speed of the OSDTW plug-in vs its baselines, as ratios from one run.

Subcommands (``all`` runs every one in turn), from the repository root::

    python -m tools.benchmark.speed fisher    # per-sample Fisher
    python -m tools.benchmark.speed proxy     # proxy search, ViT-B
    python -m tools.benchmark.speed head      # head/loss step cost
    python -m tools.benchmark.speed decoder   # dual-decoder predict
    python -m tools.benchmark.speed pipeline  # whole Digits-LT run
    python -m tools.benchmark.speed data      # data share, CIFAR-10-LT
    python -m tools.benchmark.speed all [--quick] [--threads 1]

One module per benchmark, each with its ``bench_<name>(args)`` and the
helpers only it uses (its docstring says what it measures):
:mod:`.fisher` (1), :mod:`.proxy` (2), :mod:`.head` (3), :mod:`.decoder`
(4), :mod:`.pipeline` (5), :mod:`.data` (6). Shared: :mod:`.runtime` (the
device, timing on it), :mod:`.workloads` (the synthetic models and
batches); :mod:`.cli` (the command line).

Timings are medians of interleaved repeats after a warm-up, on CPU, with
``torch.set_num_threads(--threads)`` (1 by default). ``--quick`` shrinks
every workload (smaller N, fewer repeats, 9M-parameter proxy, 2-epoch
pipeline). The numbers hold for this machine and load only: the machine
information (and the load average) is printed first.
"""
