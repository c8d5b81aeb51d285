"""Write ``tests/data/resolved_configs.json``: every config under
``configs/`` (pieces included; not the retired ``configs/benchmarks/
cifar10_lt/``) as mmengine resolves it (``Config.fromfile(...).to_dict()``),
the reference of ``tests/test_configs/test_resolved_configs.py``.

Variants (the fixture's top-level keys):

- ``default``: every config, no ``OSDTW_BENCH_*`` variable set (their
  defaults apply);
- ``<setting>/<split>``: the converged benchmark's configs
  (``configs/benchmarks/cifar10_lt_mgp/``) in the environment the converged
  driver set (``Settings.env()`` of ``tools/benchmark/converged/jobs.py`` at
  the commit that wrote the fixture) for the setting (``driver``: the
  defaults, ``driver_other``: another imbalance ratio, class order, epochs
  and MGP checkpoint) and test split (``test``, ``heldout``);
- ``env``: those environment variables, by setting.

Run once, from the repository root, at the commit whose configs are the
reference (the fixture is committed; rerunning it later would make the test
compare the configs with themselves)::

    python tests/data/make_resolved_configs.py
"""
import json
import os
import sys
from pathlib import Path

from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / 'tests' / 'data' / 'resolved_configs.json'
RETIRED = REPO / 'configs' / 'benchmarks' / 'cifar10_lt'
BENCHMARK = REPO / 'configs' / 'benchmarks' / 'cifar10_lt_mgp'
ENV_PREFIX = 'OSDTW_BENCH_'
#: The driver's environment by setting (without EVAL_SPLIT); the MGP
#: checkpoint is that of ``Settings(work_root='/converged', ...)``.
SETTINGS = {
    'driver':
    dict(
        IMB_RATIO='100',
        EPOCHS='20',
        REFINE_EPOCHS='6',
        MGP_CKPT='/converged/mgp/epoch_200.pth'),
    'driver_other':
    dict(
        IMB_RATIO='50',
        EPOCHS='10',
        REFINE_EPOCHS='3',
        MGP_CKPT='/converged/mgp/epoch_100.pth',
        CLASS_ORDER='[9,8,7,6,5,4,3,2,1,0]'),
}
SPLITS = ('test', 'heldout')


def configs(folder: Path):
    return sorted(
        p for p in folder.rglob('*.py') if RETIRED not in p.parents)


def resolve(paths, env) -> dict:
    """``{repo-relative path: resolved dict}`` with ``env`` (and no other
    ``OSDTW_BENCH_*`` variable) in the environment."""
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        del os.environ[key]
    os.environ.update({ENV_PREFIX + k: v for k, v in env.items()})
    try:
        return {
            str(p.relative_to(REPO)): Config.fromfile(str(p)).to_dict()
            for p in paths
        }
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main() -> int:
    variants = {'default': resolve(configs(REPO / 'configs'), {})}
    for setting, env in SETTINGS.items():
        for split in SPLITS:
            variants[f'{setting}/{split}'] = resolve(
                configs(BENCHMARK), dict(env, EVAL_SPLIT=split))
    variants['env'] = SETTINGS
    text = json.dumps(variants, sort_keys=True, indent=1, default=str)
    OUT.write_text(text + '\n', encoding='utf-8')
    print(f'{OUT.relative_to(REPO)}: {len(variants["default"])} configs, '
          f'{len(text) // 1024} KiB')
    return 0


if __name__ == '__main__':
    sys.exit(main())
