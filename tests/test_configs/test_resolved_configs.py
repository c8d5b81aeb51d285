"""Every config resolves as it did before the config tree was made shallow
and the environment variables left the configs (issue 20).

``tests/data/resolved_configs.json`` holds every config under configs/ (not
the retired ``configs/benchmarks/cifar10_lt/``) as mmengine resolved it at
faeb631 (``tests/data/make_resolved_configs.py``): with no ``OSDTW_BENCH_*``
variable set, and the converged benchmark's configs also in the environment
its driver set then. The driver now passes that setting as ``--cfg-options``
(``Settings.cfg_options`` of ``tools/benchmark/converged/jobs.py``), applied
here as the tools apply them (mmengine's ``DictAction``, then
``Config.merge_from_dict``). No training, no data."""
import argparse
import json
from functools import lru_cache
from pathlib import Path

import pytest
from mmengine.config import Config, DictAction

from tools.benchmark.converged.jobs import (CFG_DIR, PIPELINE_MISMATCH,
                                            Protocol, Settings)

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / 'tests' / 'data' / 'resolved_configs.json'
BENCHMARK = 'configs/benchmarks/cifar10_lt_mgp/'
#: Top-level variables of the former side-by-side piece ``_bench.py`` that
#: carried the ``OSDTW_BENCH_*`` values (or handed them, and the held-out
#: dataset, to the configs beside it). Nothing reads them: the benchmark's
#: base now sets the keys they filled, and ``_heldout.py`` holds the
#: validation set. (``bench_train_pipeline``, which
#: tools/benchmark/osdtw_speed.py reads, stays.)
DROPPED = ('_bench_classes', '_heldout_dataset', 'bench_class_order',
           'bench_epochs', 'bench_eval_split', 'bench_heldout_per_class',
           'bench_imb_ratio', 'bench_mgp_init', 'bench_refine_epochs',
           'bench_test_dataloader', 'bench_train_cfg',
           'bench_train_dataloader', 'bench_val_dataloader')
#: ``_bench.py`` was that piece; it is now the benchmark's base, whose
#: content the configs next to it are compared through. The worked mix-in
#: example was rewritten on purpose to read the CIFAR-10 JPEG folders
#: instead of downloading CIFAR-10 (issue 21; tests/test_configs/
#: test_examples.py trains it).
NOT_COMPARED = (BENCHMARK + '_bench.py',
                'configs/examples/mmpretrain_mix_in.py')
#: The intended changes, by config: key -> new value (MISSING: removed).
MISSING = object()
PAIR_TASK = {'model.model.head.task': MISSING}
SECOND_SEED = {'train_cfg.noise_scale': 'second_seed',
               'train_cfg.search.mismatch': 'debiased'}
CHANGED = {
    # The pair's task model is now the stage base's model: its head has no
    # `task`, which TaskPairClassifier sets in each of its two task models
    # (it overwrote the 'head' that stage1_head.py's model brought along).
    **{
        f'configs/osdtw/{ds}/stage1_pair.py': PAIR_TASK
        for ds in ('cifar10_lt', 'cifar100_lt', 'digits_lt', 'imagenet_lt',
                   'places_lt')
    },
    # Places-LT's MGP config inherits places_lt.py instead of imagenet_lt.py
    # plus the Places-LT lines: the dataset base's top-level variable (read
    # by nothing; the dataset's own data_root was and is data/places365).
    'configs/mgp/places_lt/mae_vit-base-p16_8xb512-coslr-800e.py': {
        'data_root': 'data/places365'
    },
    # Issue 17: the pipeline configs calibrate the proxy's noise scale on a
    # second stage-1 seed, with the unbiased mismatch estimate.
    **{
        path: SECOND_SEED
        for path in (
            'configs/_base_/osdtw_pipeline.py',
            'configs/benchmarks/cifar10_lt_mgp/osdtw_pipeline.py',
            'configs/osdtw/cifar10_lt/pipeline_mgp.py',
            'configs/osdtw/digits_lt/pipeline_mgp.py',
            *(f'configs/osdtw/{ds}/pipeline.py'
              for ds in ('cifar10_lt', 'cifar100_lt', 'digits_lt',
                         'imagenet_lt', 'places_lt')))
    },
}
#: The driver's settings of the fixture (its ``env`` entry).
SETTINGS = {
    'driver':
    dict(),
    'driver_other':
    dict(
        imb_ratio=50,
        class_order=[9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
        epochs=10,
        refine_epochs=3,
        mgp_epochs=100),
}


@lru_cache(maxsize=None)
def fixture() -> dict:
    with open(FIXTURE, encoding='utf-8') as f:
        return json.load(f)


def normal(cfg: dict) -> dict:
    """As the fixture stores it (JSON: tuples become lists, and so on)."""
    return json.loads(json.dumps(cfg, sort_keys=True, default=str))


def parse(options) -> dict:
    """``--cfg-options`` strings as tools/train.py and tools/test.py read
    them."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *options]).cfg_options


def resolve(path, options=()) -> dict:
    cfg = Config.fromfile(str(path))
    if options:
        cfg.merge_from_dict(parse(options))
    return normal(cfg.to_dict())


def before(variant: str, path: str) -> dict:
    """The fixture's config, without the dropped keys, with the intended
    changes."""
    old = dict(fixture()[variant][path])
    if path.startswith(BENCHMARK):
        for key in DROPPED:
            old.pop(key, None)
    for key, value in CHANGED.get(path, {}).items():
        *parents, leaf = key.split('.')
        node = old
        for parent in parents:
            node = node[parent]
        if value is MISSING:
            del node[leaf]
        else:
            node[leaf] = value
    return old


def settings(name: str) -> Settings:
    return Settings('/converged', '/converged/out', **SETTINGS[name])


def benchmark_configs():
    """The fixture's benchmark configs the driver gives a setting: every
    one but the pieces and the pipeline (whose stage configs get theirs
    through it)."""
    return sorted(
        p for p in fixture()['driver/test']
        if not Path(p).name.startswith('_')
        and not p.endswith('osdtw_pipeline.py'))


#: The pipeline host's placeholders (an outer Runner's model, data,
#: optimizer and hooks that never trained) are gone: the StageRunner is the
#: runner now (``runner_type``), its settings still ``train_cfg``.
HOST_PLACEHOLDERS = ('model', 'train_dataloader', 'optim_wrapper',
                     'custom_hooks', 'runner_type')


@pytest.mark.parametrize('path', sorted(fixture()['default']))
def test_config_resolves_as_before(path):
    if path in NOT_COMPARED:
        pytest.skip('changed on purpose (see NOT_COMPARED)')
    assert (REPO / path).is_file(), f'{path} was removed'
    new, old = resolve(REPO / path), before('default', path)
    if (old.get('train_cfg') or {}).get('type') == 'StageRunner':
        assert old['runner_type'] == 'QuietConsoleRunner'
        assert new['runner_type'] == 'StageRunner' and 'model' not in new
        for key in HOST_PLACEHOLDERS:
            old.pop(key, None)
            new.pop(key, None)
    assert new == old


@pytest.mark.parametrize('name', sorted(SETTINGS))
def test_settings_are_the_fixtures_environment(name):
    env, s = fixture()['env'][name], settings(name)
    assert (str(s.imb_ratio), str(s.epochs), str(s.refine_epochs),
            s.mgp_checkpoint) == (env['IMB_RATIO'], env['EPOCHS'],
                                  env['REFINE_EPOCHS'], env['MGP_CKPT'])
    order = None if s.class_order is None else \
        '[' + ','.join(map(str, s.class_order)) + ']'
    assert order == env.get('CLASS_ORDER')


@pytest.mark.parametrize('split', ('test', 'heldout'))
@pytest.mark.parametrize('name', sorted(SETTINGS))
@pytest.mark.parametrize('path', benchmark_configs())
def test_cfg_options_are_the_environment(path, name, split, tmp_path):
    """A benchmark config with the driver's options of a setting (and the
    held-out config the driver writes for a validation-set test) is the
    config the driver's environment gave."""
    protocol = Protocol(settings(name))
    config = Path(path).name
    options = protocol.s.cfg_options(config)
    if split == 'heldout':
        file = protocol.heldout_config(config, str(tmp_path / 'val.py'))
        options += protocol.s.dataset_options('test_dataloader.dataset')
    else:
        file = REPO / CFG_DIR / config
    new = resolve(file, options)
    if split == 'heldout':
        del new['heldout_dataset'], new['heldout_split']  # _heldout.py's
    assert new == before(f'{name}/{split}', path)


@pytest.mark.parametrize('name', sorted(SETTINGS))
def test_pipeline_stage_options_are_the_environment(name):
    """The pipeline's stage configs with the options the pipeline job
    passes (``train_cfg.stage_cfg_options``, then the stage's
    ``train_cfg.per_stage_cfg_options``), applied as StageRunner applies
    them, are the stage configs the driver's environment gave."""
    protocol = Protocol(settings(name))
    argv = protocol.pipeline_job(0).steps()[0].command()
    options = argv[argv.index('--cfg-options') + 1:]
    train_cfg = Config.fromfile(str(REPO / argv[2]))
    train_cfg.merge_from_dict(parse(options))
    train_cfg = train_cfg.train_cfg
    assert train_cfg.search.mismatch == PIPELINE_MISMATCH
    stage_options = train_cfg.stage_cfg_options.to_dict()
    for step in ('stage1_head', 'stage1_tail', 'stage2', 'assemble',
                 'refine'):
        path = BENCHMARK + train_cfg[step]
        cfg = Config.fromfile(str(REPO / path))
        cfg.merge_from_dict(stage_options)
        cfg.merge_from_dict(train_cfg.per_stage_cfg_options[step].to_dict())
        old = Config(before(f'{name}/test', path))
        old.merge_from_dict({'randomness.seed': 0})  # the job's seed
        assert normal(cfg.to_dict()) == normal(old.to_dict()), step
