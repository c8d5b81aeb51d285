"""Every MORE config is its plain baseline plus MORE, and merges back to
the baseline's state-dict keys."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmpretrain.registry import MODELS

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.models.more import merge_state_dict

REPO = Path(__file__).resolve().parents[3]
MORE_CONFIGS = sorted((REPO / 'configs/more').glob('*/*.py'))


def baseline_of(config: Path) -> Path:
    name = config.name.replace('_more_', '_')
    return REPO / 'configs/baselines' / config.parent.name / name


MORE_KEYS = ('rank', 'target_modules', 'rebalancing_loss', 'detach_general',
             'share_randomness', 'rebalance_weight')


def build_from(cfg: Config, plain: bool = False):
    """Build the config's model (``plain``: without the MORE settings)."""
    model_cfg = cfg.model.copy()
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    if plain:
        model_cfg = {k: v for k, v in model_cfg.items() if k not in MORE_KEYS}
        model_cfg['type'] = 'ImageClassifier'
    return MODELS.build(model_cfg)


def test_every_dataset_has_three_more_configs():
    datasets = {c.parent.name for c in MORE_CONFIGS}
    assert datasets == {
        'digits_lt', 'cifar10_lt', 'cifar100_lt', 'imagenet_lt', 'places_lt'
    }
    assert len(MORE_CONFIGS) == 15


@pytest.mark.parametrize(
    'config', MORE_CONFIGS, ids=lambda c: f'{c.parent.name}/{c.stem}')
def test_config_is_its_baseline_plus_more(config):
    cfg = Config.fromfile(str(config))
    assert cfg.model.type == 'MOREClassifier'
    assert cfg.model.rank >= 1
    hooks = [h['type'] for h in cfg.custom_hooks]
    assert hooks == ['ClassCountsHook', 'MOREScheduleHook']
    base_path = baseline_of(config)
    text = config.read_text()
    assert f"'../../baselines/{config.parent.name}/{base_path.name}'" in text
    assert "'../../_base_/more_vit.py'" in text
    if 'mae-ft' in config.name:
        return  # ViT-B: built once below
    model, plain = build_from(cfg), build_from(cfg, plain=True)
    merged, _ = merge_state_dict(model.state_dict())
    assert list(merged) == list(plain.state_dict())


@pytest.mark.parametrize('loss', ['ce', 'la-ce', 'bal-bce'])
def test_digits_config_differs_from_its_baseline_only_by_more(loss):
    config = REPO / f'configs/more/digits_lt/vit-nano-p2_more_{loss}.py'
    cfg = Config.fromfile(str(config))
    base = Config.fromfile(str(baseline_of(config)))
    for key in ('model', 'custom_hooks'):
        cfg.pop(key), base.pop(key)
    for key in ('more_vit_targets', 'more_rebalancing_loss', 'more_hooks'):
        cfg.pop(key)  # the shared MORE settings (configs/_base_/more_vit.py)
    assert cfg.to_dict() == base.to_dict()


def test_vit_base_more_config_merges_to_the_baseline_keys():
    config = REPO / 'configs/more/imagenet_lt/vit-base-p16_mae-ft_more_ce.py'
    cfg = Config.fromfile(str(config))
    model, plain = build_from(cfg), build_from(cfg, plain=True)
    assert len(model.low_rank_names) == 48  # 12 blocks x 4 linears
    merged, _ = merge_state_dict(model.state_dict())
    shapes = {k: v.shape for k, v in plain.state_dict().items()}
    assert {k: v.shape for k, v in merged.items()} == shapes
