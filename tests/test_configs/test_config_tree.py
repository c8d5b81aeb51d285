"""Every shipped config loads; the small ones build their model; the
inheritance chains hold what the README says they hold."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

import mmpretrain_osdtw  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
# `_base_` folders and `_name.py` fragments are pieces, not configs.
CONFIGS = sorted(
    p for p in (REPO / 'configs').rglob('*.py')
    if '_base_' not in p.parts and not p.name.startswith('_'))
VIT_B = ('imagenet_lt', 'places_lt')


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def is_pipeline(cfg: Config) -> bool:
    return (cfg.get('train_cfg') or {}).get('type') == 'StageRunner'


@pytest.mark.parametrize('path', CONFIGS, ids=rel)
def test_config_loads(path):
    cfg = Config.fromfile(str(path))
    assert cfg.default_scope == 'mmpretrain'
    assert 'mmpretrain_osdtw' in cfg.custom_imports['imports']
    if is_pipeline(cfg):  # the StageRunner and its stage configs
        assert cfg.runner_type == 'StageRunner' and 'model' not in cfg
        for key in ('stage1_head', 'stage1_tail', 'stage2', 'assemble',
                    'refine', 'stage1_pair', 'mgp'):
            name = cfg.train_cfg.get(key)
            assert name is None or (path.parent / name).is_file(), key
        return
    assert cfg.model.type in ('ImageClassifier', 'DualDecoderClassifier',
                              'MOREClassifier', 'TaskPairClassifier', 'MAE')


PIPELINES = [p for p in CONFIGS if p.name.startswith(('pipeline', 'osdtw_pi'))]
SMALL = [
    p for p in CONFIGS
    if not any(v in p.parts for v in VIT_B) and p not in PIPELINES
]
#: The OSDTW stage configs: configs/osdtw/<dataset>/stage*.py and the
#: converged benchmark's (not the retired configs/benchmarks/cifar10_lt/).
STAGES = sorted(
    list((REPO / 'configs/osdtw').glob('*/stage*.py')) +
    list((REPO / 'configs/benchmarks/cifar10_lt_mgp').glob('osdtw_stage*')))


@pytest.mark.parametrize('path', SMALL, ids=rel)
def test_small_model_builds(path):
    cfg = Config.fromfile(str(path))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize('path', STAGES, ids=rel)
def test_stage_configs_inherit_the_stage_base(path):
    """A stage config inherits its folder's stage base (the benchmark's
    recipe, _bench.py, in the benchmark), never a baseline: an edit of a
    baseline does not change the OSDTW stages."""
    base = '_bench.py' if 'benchmarks' in path.parts else '_stage_base.py'
    assert Config._get_base_files(str(path)) == [f'./{base}']


@pytest.mark.parametrize('dataset', VIT_B)
def test_osdtw_vit_b_recipe(dataset):
    """The paper's recipe: 100 + 100 epochs, 30 refinement epochs, AdamW
    (0.9, 0.99), lr 1e-3 at batch 1024, drop path 0.1, Mixup 0.8, CutMix
    1.0, RandAugment(9, 0.5), layer-wise decay."""
    folder = REPO / 'configs/osdtw' / dataset
    stage1 = Config.fromfile(str(folder / 'stage1_head.py'))
    stage2 = Config.fromfile(str(folder / 'stage2_joint.py'))
    refine = Config.fromfile(str(folder / 'stage3_refine.py'))
    assert stage1.train_cfg.max_epochs == stage2.train_cfg.max_epochs == 100
    assert refine.train_cfg.max_epochs == 30 and refine.model.freeze_encoder
    opt = stage1.optim_wrapper.optimizer
    assert (opt.type, opt.lr, tuple(opt.betas)) == ('AdamW', 1e-3, (0.9, 0.99))
    assert stage1.auto_scale_lr.base_batch_size == 1024
    assert stage1.model.backbone.drop_path_rate == 0.1
    assert [a['alpha'] for a in stage1.model.train_cfg.augments] == [0.8, 1.0]
    randaug = [
        t for t in stage1.train_dataloader.dataset.dataset.pipeline
        if t['type'] == 'RandAugment'
    ][0]
    assert (randaug.magnitude_level, randaug.magnitude_std) == (9, 0.5)
    assert stage1.train_dataloader.dataset.type == 'HeadTailSplit'
    assert stage2.model.type == 'DualDecoderClassifier'
    assert stage2.model.shared_depth == 12
    assert stage2.optim_wrapper.constructor == \
        'LearningRateDecayOptimWrapperConstructor'


@pytest.mark.parametrize('dataset', VIT_B)
def test_stage1_pair_keeps_the_stage1_recipe(dataset):
    """stage1_pair.py: the stage-1 task model and data, every class's
    targets, Mixup/CutMix in the pair's own preprocessor."""
    folder = REPO / 'configs/osdtw' / dataset
    stage1 = Config.fromfile(str(folder / 'stage1_head.py'))
    pair = Config.fromfile(str(folder / 'stage1_pair.py'))
    assert pair.model.type == 'TaskPairClassifier'
    assert pair.model.model.backbone == stage1.model.backbone
    assert pair.train_dataloader.dataset.task == 'both'
    assert [h['type'] for h in pair.custom_hooks] == ['ClassCountsHook']
    assert pair.optim_wrapper == stage1.optim_wrapper
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(
            dict(pair.model, data_preprocessor=pair.data_preprocessor))
    augments = model.data_preprocessor.batch_augments.augments
    assert [type(a).__name__ for a in augments] == ['Mixup', 'CutMix']
    for sub in model.tasks.values():
        assert sub.data_preprocessor.batch_augments is None


def test_layer_decay_reaches_both_decoders():
    """LearningRateDecayOptimWrapperConstructor on DualDecoderClassifier:
    a decoder block gets the lr of its depth, like the same encoder block
    would."""
    cfg = Config.fromfile(
        str(REPO / 'configs/osdtw/digits_lt/stage2_joint.py'))
    cfg.model.shared_depth = 2
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
        wrapper = build_optim_wrapper(
            model,
            dict(
                optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.05),
                constructor='LearningRateDecayOptimWrapperConstructor',
                paramwise_cfg=dict(layer_decay_rate=0.5)))
    lr = {
        name: group['lr']
        for group in wrapper.optimizer.param_groups
        for name in [group['param_name']]
    }
    # 4 blocks: depths 0 (stem) .. 5 (norms, heads); scale 0.5^(5 - depth)
    assert lr['backbone.pos_embed'] == 0.5**5
    assert lr['backbone.layers.1.ln1.weight'] == 0.5**3
    assert lr['decoders.head.layers.2.ln1.weight'] == 0.5**2
    assert lr['decoders.tail.layers.3.ln1.weight'] == 0.5**1
    assert lr['heads.tail.layers.head.weight'] == 1.0
    assert torch.is_tensor(next(model.parameters()))
