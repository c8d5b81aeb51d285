"""The converged benchmark's plan as counts of work, and its wall time from
the cost of one unit of each.

The plan (the protocol of ``docs/benchmarks/converged.md``): per seed CE,
LA-CE, Bal-BCE, Bal-BCE from scratch (one training each), MORE + Bal-BCE,
the OSDTW pipeline (two stage-1 task models and their second seeds, stage
2, refinement, the
Fisher passes, six test passes), the pipeline choosing on the validation
split (from the first's stage 1: three stage-2 models, ten assembled models
on the validation set, refinement, the test passes) and two 2-model
ensembles (test and validation passes); once (the ablation seed), stage 2 at
``weights`` head weights and the refinement of ``depths x weights`` grid
cells, each tested; MGP once, alone on every thread. Every training run
evaluates the test set after every epoch (inside its epoch's cost). The
single-thread runs go ``jobs`` at a time.

Unit costs come from model throughput on synthetic batches
(``tools/benchmark/recipe_budget.py``) or from real runs
(``python -m tools.benchmark.regime_pilot``).
"""
from dataclasses import dataclass
from typing import Dict, Optional

#: Refinement epochs per training epoch (100 : 30 in the paper).
REFINE_SHARE = 0.3
#: Single trainings per seed: CE, LA-CE, Bal-BCE, Bal-BCE from scratch.
BASELINES = 4
#: Full trainings of the pipeline: two stage-1 task models, their second
#: seeds (the default ``noise_scale='second_seed'``) and stage 2.
PIPELINE_TRAININGS = 5
#: Test passes of the pipeline.
PIPELINE_TESTS = 6
#: The ablation: w_A values and shared depths C of the grid.
WEIGHTS, DEPTHS = 5, 4
#: The pipeline choosing on the validation split (``osdtw_validation``,
#: from the default run's stage 1): stage 2 at 3 head weights, the
#: assembled models of 4 depths x 3 weights (C = 0 once: 10 cells) on the
#: validation set, then refinement and the test passes.
VALIDATION_WEIGHTS, VALIDATION_CELLS = 3, 10
#: The validation set's size over the test set's (900 / 10,000 images).
VAL_SHARE = 0.09
#: 2-model ensembles per seed (LA-CE, Bal-BCE): test and validation passes
#: of two models each.
ENSEMBLES = 2


def fisher_seconds(samples: int, rate: float) -> float:
    """The pipeline's Fisher passes on ``samples`` images at ``rate``
    training images per second: about three backward passes per image
    (two task passes, the cross pass twice the work), four times over."""
    return 4 * 3 * samples / rate


def refine_epochs(epochs: int) -> int:
    """The refinement's epochs for ``epochs`` per training run (the
    converged driver's default)."""
    return max(1, round(epochs * REFINE_SHARE))


@dataclass
class UnitCosts:
    """Seconds of one unit of each kind of work.

    Attributes:
        ft_epoch (float): One fine-tuning epoch (its test-set monitor
            included).
        more_epoch (float): One MORE epoch (the same).
        test (float): One test pass.
        fisher (float): The pipeline's Fisher passes, all of them.
        mgp (float): The whole MGP run (alone, on every thread).
    """
    ft_epoch: float
    more_epoch: float
    test: float
    fisher: float
    mgp: float


def plan_seconds(costs: UnitCosts, epochs: int, seeds: int, jobs: int,
                 weights: int = WEIGHTS,
                 depths: int = DEPTHS,
                 pipeline_trainings: int = PIPELINE_TRAININGS
                 ) -> Dict[str, float]:
    """Estimated wall seconds of each part of the plan: ``mgp``,
    ``baselines``, ``more``, ``osdtw``, ``osdtw_validation``,
    ``ensembles`` (over the seeds), ``ablation``, and their ``total``. The
    refinement trains the decoders with the encoder frozen: counted as full
    epochs (an upper bound). ``pipeline_trainings``: the pipeline's full
    trainings (3 without the second seed).

    Example:
        >>> parts = plan_seconds(UnitCosts(10, 20, 5, 100, 1000), 20, 3, 2)
        >>> round(parts['total'], 2), parts['mgp']
        (6809.45, 1000)
    """
    def job(name: str) -> float:
        return job_seconds(name, costs, epochs, pipeline_trainings)

    per_seed = dict(
        baselines=BASELINES * job('bal-bce'),
        more=job('more_bal-bce'),
        osdtw=job('osdtw'),
        osdtw_validation=job('osdtw_validation'),
        ensembles=ENSEMBLES * job('ensemble2_bal-bce'))
    ablation = weights * job('stage2_w0.50') + weights * depths * job(
        'grid_C0_w0.50')
    single = seeds * sum(per_seed.values()) + ablation
    return dict(
        mgp=costs.mgp,
        **{k: seeds * v / jobs
           for k, v in per_seed.items()},
        ablation=ablation / jobs,
        total=costs.mgp + single / jobs)


def job_seconds(name: str, costs: UnitCosts, epochs: int,
                pipeline_trainings: int = PIPELINE_TRAININGS
                ) -> Optional[float]:
    """The plan's seconds of one job of the converged driver, by its
    result name (``bal-bce``, ``osdtw``, ``grid_C2_w0.30``, ...): the
    same terms :func:`plan_seconds` sums; None for a job the plan does
    not count (MGP, searches, validation passes, the cost job).

    Example:
        >>> costs = UnitCosts(10, 20, 5, 100, 1000)
        >>> job_seconds('la-ce', costs, 20), job_seconds('grid_C0_w0.10',
        ...                                              costs, 20)
        (200, 65)
    """
    ft = costs.ft_epoch
    refine = refine_epochs(epochs)
    if name in ('ce', 'la-ce', 'bal-bce', 'bal-bce_scratch'):
        return epochs * ft
    if name.startswith('more_'):
        return epochs * costs.more_epoch
    if name == 'osdtw':
        return (pipeline_trainings * epochs + refine) * ft + costs.fisher + \
            PIPELINE_TESTS * costs.test
    if name == 'osdtw_validation':
        return (VALIDATION_WEIGHTS * epochs + refine) * ft + (
            VALIDATION_CELLS * VAL_SHARE + PIPELINE_TESTS) * costs.test
    if name.startswith('ensemble2_'):
        return 2 * (1 + VAL_SHARE) * costs.test
    if name.startswith('stage2_'):
        return epochs * ft
    if name.startswith('grid_'):
        return refine * ft + costs.test
    return None
