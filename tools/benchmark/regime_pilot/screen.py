"""The pilot's throughput screen: which variants' protocol can fit the
budget, measured in minutes instead of an MGP run and two fine-tunings.

A variant's accuracy costs hours (its MGP run, 2-4 h alone for patch 4 or
width 128, and two fine-tunings); whether its whole protocol fits the
budget costs seconds. :func:`arch_rates` measures, in one process on one
thread, the rates (images per second) of a fine-tuning step (``ft``), an
MAE step (``mae``) and a test step (``infer``) of each variant's ViT on
synthetic batches (the models of ``tools/benchmark/recipe_budget.py``),
all calls interleaved so that a change of machine load touches every model
alike. :func:`scaled_costs` turns a finished *reference* variant's measured
unit costs (real runs of the pilot) into a variant's by those rates'
ratios: the training part of an epoch by the ``ft`` ratio, the test pass
(and each epoch's test-set monitor) by the ``infer`` ratio, MGP by the
``mae`` ratio times the ratio of MGP epochs. The estimate is then the
pilot's (:func:`~.pilot.estimate`, calibrated like every other).

What it cannot say: accuracy. A variant that fits still needs its runs;
one that does not can be left out of them (``run --skip-unfit``), the
screen's estimate recorded as the reason.
"""
import math
from typing import Callable, Dict, Optional, Sequence, Tuple

from .pilot import BUDGET_H, Variant, estimate

#: Transformer blocks of every variant's ViT (the recipe's depth).
BLOCKS = 6
#: Workloads measured per architecture and their batch sizes.
WORKLOADS = ('ft', 'mae', 'infer')
INFER_BATCH = 256

Arch = Tuple[int, int]  # (patch size, embed dims)


def arch_of(variant: Variant) -> Arch:
    return variant.patch_size, variant.embed_dims


def arch_rates(archs: Sequence[Arch],
               batch_size: int = 128,
               rounds: int = 3,
               step_fns: Optional[Callable] = None,
               measure: Optional[Callable] = None
               ) -> Dict[Arch, Dict[str, float]]:
    """Images per second of each workload of each architecture, measured
    in one interleaved run (``recipe_budget.step_fns`` and ``measure``
    unless given; torch's thread count is the caller's)."""
    if step_fns is None or measure is None:
        from tools.benchmark import recipe_budget
        step_fns = step_fns or recipe_budget.step_fns
        measure = measure or recipe_budget.measure
    fns, sizes = {}, {}
    for patch, dims in dict.fromkeys(archs):
        steps = step_fns(dims, BLOCKS, patch, batch_size)
        for name in WORKLOADS:
            key = f'p{patch}_d{dims}/{name}'
            fns[key] = steps[name]
            sizes[key] = INFER_BATCH if name == 'infer' else batch_size
    rates = measure(fns, sizes, rounds)
    out: Dict[Arch, Dict[str, float]] = {}
    for key, rate in rates.items():
        arch, name = key.split('/')
        patch, dims = (int(p[1:]) for p in arch.split('_'))
        out.setdefault((patch, dims), {})[name] = rate
    return out


def scaled_costs(reference: Dict[str, float], reference_variant: Variant,
                 variant: Variant,
                 rates: Dict[Arch, Dict[str, float]]) -> Dict[str, float]:
    """A variant's unit costs from the reference's measured ones
    (:func:`~.pilot.unit_costs`: ``ft_epoch_s`` with its test-set monitor,
    ``test_s``, ``mgp_s``) and the two architectures' rates.

    Example:
        >>> ref = dict(ft_epoch_s=40.0, test_s=10.0, mgp_s=7000.0)
        >>> rates = {(8, 96): dict(ft=400, mae=900, infer=2000),
        ...          (4, 96): dict(ft=100, mae=300, infer=500)}
        >>> got = scaled_costs(ref, Variant(8, 96, 200, 40),
        ...                    Variant(4, 96, 400, 40), rates)
        >>> got['ft_epoch_s'], got['test_s'], got['mgp_s']
        (160.0, 40.0, 42000.0)
    """
    ref, new = rates[arch_of(reference_variant)], rates[arch_of(variant)]
    r_ft = ref['ft'] / new['ft']
    r_infer = ref['infer'] / new['infer']
    r_mae = ref['mae'] / new['mae']
    test = reference['test_s']
    train_part = max(reference['ft_epoch_s'] - test, 0.0)
    return dict(
        ft_epoch_s=train_part * r_ft + test * r_infer,
        test_s=test * r_infer,
        mgp_s=reference['mgp_s'] * r_mae * variant.mgp_epochs /
        reference_variant.mgp_epochs)


def screen_record(variant: Variant, reference: Dict[str, float],
                  reference_variant: Variant,
                  rates: Dict[Arch, Dict[str, float]], train_size: int,
                  calibration: float = 1.0,
                  budget_h: float = BUDGET_H) -> dict:
    """A variant's row of the screen: its rates relative to the
    reference's, its scaled unit costs and the estimated protocol hours
    (calibrated), and whether they fit ``budget_h``."""
    costs = scaled_costs(reference, reference_variant, variant, rates)
    hours = estimate(costs['ft_epoch_s'], costs['test_s'], costs['mgp_s'],
                     variant.epochs, train_size, calibration)
    ref, new = rates[arch_of(reference_variant)], rates[arch_of(variant)]
    return dict(
        variant=variant.name,
        patch_size=variant.patch_size,
        embed_dims=variant.embed_dims,
        mgp_epochs=variant.mgp_epochs,
        epochs=variant.epochs,
        rates=dict(new),
        speed_vs_reference={k: new[k] / ref[k]
                            for k in WORKLOADS},
        unit_costs=costs,
        estimate_h=hours,
        fits=hours['total'] <= budget_h)


def screen_table(screen: dict) -> str:
    """The screen's section of ``tables.md``."""
    budget = screen['budget_h']
    lines = [
        '## Throughput screen (no training: which protocols can fit)', '',
        f'`{screen["command"]}` ({screen["machine"]}; {screen["rounds"]} '
        'interleaved rounds of synthetic batches per workload). Speed: '
        'images per second relative to the reference '
        f'{screen["reference"]} (fine-tuning step, MAE step, test step); '
        "protocol h: the reference's measured unit costs scaled by those "
        'ratios (MGP also by its epochs), the same plan and calibration as '
        'the table above.', '',
        f'| variant | ft speed | MAE speed | test speed | MGP h | protocol h '
        f'| fits {budget:g} h |', '|---|---|---|---|---|---|---|'
    ]
    for r in screen['variants']:
        s = r['speed_vs_reference']
        total = r['estimate_h']['total']
        lines.append(
            f'| {r["variant"]} | {s["ft"]:.2f}x | {s["mae"]:.2f}x | '
            f'{s["infer"]:.2f}x | {r["unit_costs"]["mgp_s"] / 3600:.1f} | '
            f'{_hours(total)} | {"yes" if r["fits"] else "no"} |')
    lines.append('')
    return '\n'.join(lines)


def _hours(value: float) -> str:
    return '—' if value is None or math.isnan(value) else f'{value:.1f}'
