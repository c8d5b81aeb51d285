"""The converged driver's ViT-size knobs (``--patch-size``, ``--embed-dims``,
with ``--mgp-epochs`` and ``--epochs``): the tag, the argument checks, and
that the options reach every command of the protocol: every benchmark
config (and each stage config of the pipeline, through
``train_cfg.per_stage_cfg_options``) resolves to the ViT asked for, builds
and runs a forward pass on a 2-image 32 px batch, and an MGP model of that
size loads into the fine-tuning backbone as the configs load it. No data,
no training."""
import argparse
import os.path as osp
from pathlib import Path

import pytest
import torch
from mmengine.config import Config, DictAction

from tools.benchmark.converged import cli
from tools.benchmark.converged.jobs import (CFG_DIR, MGP_CONFIG, Protocol,
                                            Settings)

REPO = Path(__file__).resolve().parents[2]
PATCH, DIMS = 4, 128


def parse(options) -> dict:
    """``--cfg-options`` strings as tools/train.py and tools/test.py read
    them."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *options]).cfg_options


def resolve(path, options=()) -> Config:
    cfg = Config.fromfile(str(path))
    if options:
        cfg.merge_from_dict(parse(options))
    return cfg


def protocol(tmp_path, **kwargs) -> Protocol:
    kwargs.setdefault('patch_size', PATCH)
    kwargs.setdefault('embed_dims', DIMS)
    return Protocol(
        Settings(
            str(tmp_path / 'work'),
            str(tmp_path / 'out'),
            seeds=[0, 1],
            python='python',
            **kwargs))


def benchmark_configs():
    """Every benchmark config the driver gives a setting (not the pieces,
    not the pipeline: its stage configs get theirs through it)."""
    return sorted(
        p.name for p in (REPO / CFG_DIR).glob('*.py')
        if not p.name.startswith('_')
        and not p.name.startswith('osdtw_pipeline'))


def build_model(cfg: Config):
    """The config's model, with its top-level data preprocessor as the
    Runner gives it."""
    import mmpretrain_osdtw  # noqa: F401 (registers the plug-in)
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    return MODELS.build(model_cfg)


def batch(num: int = 2) -> dict:
    from mmpretrain.structures import DataSample
    images = torch.randint(0, 256, (num, 3, 32, 32), dtype=torch.uint8)
    samples = [DataSample().set_gt_label(i % 10) for i in range(num)]
    return dict(inputs=list(images), data_samples=samples)


def check_vit(cfg: Config, patch: int, dims: int) -> None:
    backbone = cfg.model.backbone
    assert backbone.patch_size == patch
    assert (backbone.arch.embed_dims, backbone.arch.num_heads,
            backbone.arch.feedforward_channels) == (dims, dims // 32,
                                                    4 * dims)
    assert backbone.arch.num_layers == 6
    assert cfg.model.head.in_channels == dims


def forward(cfg: Config) -> None:
    """Build the config's model and predict a 2-image 32 px batch."""
    model = build_model(cfg)
    model.eval()
    counts = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    for module in model.modules():  # ClassCountsHook's job
        if callable(getattr(module, 'set_class_counts', None)):
            module.set_class_counts(counts)
    with torch.no_grad():
        out = model.test_step(batch())
    assert len(out) == 2 and out[0].pred_score.shape[-1] == 10
    tokens = (32 // cfg.model.backbone.patch_size)**2
    vit = model.backbone
    assert vit.pos_embed.shape[1] == tokens + 1  # and the class token
    assert vit.pos_embed.shape[2] == cfg.model.backbone.arch.embed_dims


# ------------------------------------------------------------- the CLI
def test_tags_name_only_what_is_not_the_default():
    assert cli.tag_of(100, None, 20) == 'ir100'
    assert cli.tag_of(100, None, 20, 8, 96, 200) == 'ir100'
    assert cli.tag_of(100, None, 40, 4) == 'ir100_p4_e40'
    assert cli.tag_of(100, None, 20, embed_dims=128) == 'ir100_d128'
    assert cli.tag_of(100, None, 20, mgp_epochs=400) == 'ir100_m400'
    assert cli.tag_of(50, [1, 0, 2, 3, 4, 5, 6, 7, 8, 9], 40, 4, 128,
                      400) == 'ir50_order1023456789_p4_d128_m400_e40'
    args = cli.parse_args(['list'])
    assert args.work_root == osp.join('work_dirs', 'converged', 'ir100')
    assert (args.patch_size, args.embed_dims, args.mgp_epochs) == (8, 96, 200)
    args = cli.parse_args([
        'run', '--patch-size', '4', '--embed-dims', '128', '--mgp-epochs',
        '400', '--epochs', '40'
    ])
    assert args.out == osp.join('docs', 'benchmarks', 'converged',
                                'ir100_p4_d128_m400_e40')
    s = cli.settings_of(args)
    assert (s.patch_size, s.embed_dims, s.mgp_epochs,
            s.epochs) == (4, 128, 400, 40)


@pytest.mark.parametrize('argv, message', [
    (['--patch-size', '5'], '--patch-size must divide 32'),
    (['--patch-size', '0'], '--patch-size must divide 32'),
    (['--patch-size', '64'], '--patch-size must divide 32'),
    (['--embed-dims', '100'], '--embed-dims must be a positive multiple'),
    (['--embed-dims', '0'], '--embed-dims must be a positive multiple'),
    (['--mgp-epochs', '0'], '--mgp-epochs must be >= 1'),
])
def test_bad_sizes_are_one_line_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as err:
        cli.parse_args(['run', *argv])
    assert err.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert message in lines[-1]


def test_the_default_size_adds_no_option(tmp_path):
    p = protocol(tmp_path, patch_size=8, embed_dims=96)
    assert p.s.model_options() == [] and p.s.mgp_model_options() == []
    assert not any('patch' in o or 'embed' in o or 'in_channels' in o
                   for o in p.s.cfg_options('osdtw_stage1_head.py'))


# ------------------------------------------------- the options reach all
@pytest.mark.parametrize('config', benchmark_configs())
def test_every_benchmark_config_takes_the_size(config, tmp_path):
    """The training command's options (and the test's: the same setting)
    give the ViT asked for, and its model runs."""
    p = protocol(tmp_path)
    options = p.s.cfg_options(config)
    cfg = resolve(REPO / CFG_DIR / config, options)
    check_vit(cfg, PATCH, DIMS)
    forward(cfg)
    # the validation-set test: the config written beside the run
    held = p.heldout_config(config, str(tmp_path / 'val.py'))
    check_vit(
        resolve(held, options +
                p.s.dataset_options('test_dataloader.dataset')), PATCH, DIMS)


def test_the_pipeline_gives_every_stage_the_size(tmp_path):
    """The pipeline job's options, applied as StageRunner applies them
    (StageConfigs: stage_cfg_options, then per_stage_cfg_options)."""
    from mmpretrain_osdtw.engine.runner.stage_configs import StageConfigs
    p = protocol(tmp_path)
    argv = p.pipeline_job(0).steps()[0].command()
    options = argv[argv.index('--cfg-options') + 1:]
    cfg = resolve(REPO / argv[2], options)
    cfg.filename = str(REPO / argv[2])
    stages = StageConfigs(cfg)
    for step in ('stage1_head', 'stage1_tail', 'stage2', 'assemble',
                 'refine'):
        stage = stages.load(step)
        check_vit(stage, PATCH, DIMS)
        forward(stage)


def test_mgp_checkpoint_loads_into_the_fine_tuning_backbone(tmp_path):
    """MGP of the knobs' size (its command's options on the MGP config)
    trains a step, and its checkpoint loads into the fine-tuning backbone
    as the configs load it (``init_cfg`` Pretrained, prefix
    ``backbone.``): every key but the documented ones. MAE's final norm
    ``ln1`` is unused by the fine-tuning ViT (average-pooled tokens with
    the fc norm ``ln2``, ``final_norm=False``), and ``ln2`` starts fresh."""
    from mmengine.runner.checkpoint import _load_checkpoint_with_prefix
    p = protocol(tmp_path, mgp_epochs=400)
    argv = p.mgp_job().steps()[0].command()
    assert 'train_cfg.max_epochs=400' in argv
    options = argv[argv.index('--cfg-options') + 1:]
    cfg = resolve(REPO / MGP_CONFIG, options)
    assert cfg.model.backbone.patch_size == PATCH
    assert cfg.model.backbone.arch.embed_dims == DIMS
    assert (cfg.model.neck.patch_size, cfg.model.neck.num_patches,
            cfg.model.neck.embed_dim) == (PATCH, 64, DIMS)
    assert cfg.model.head.patch_size == PATCH
    mae = build_model(cfg)
    mae.init_weights()
    data = dict(
        inputs=torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8),
        data_samples=batch()['data_samples'])
    losses = mae.loss(**mae.data_preprocessor(data, True))
    assert torch.isfinite(losses['loss'])
    path = str(tmp_path / 'epoch_400.pth')
    torch.save(dict(state_dict=mae.state_dict()), path)

    ft_cfg = resolve(
        REPO / CFG_DIR / 'vit-d96-p8_bal-bce.py',
        p.s.cfg_options('vit-d96-p8_bal-bce.py') +
        [f'model.backbone.init_cfg.checkpoint={path}'])
    init = ft_cfg.model.backbone.init_cfg
    assert (init.type, init.prefix) == ('Pretrained', 'backbone.')
    model = build_model(ft_cfg)
    state = _load_checkpoint_with_prefix(init.prefix, path, 'cpu')
    result = model.backbone.load_state_dict(state, strict=False)
    assert sorted(result.missing_keys) == ['ln2.bias', 'ln2.weight']
    assert sorted(result.unexpected_keys) == ['ln1.bias', 'ln1.weight']
    # the configs' own loading gives the MGP weights
    model.init_weights()
    for key in ('patch_embed.projection.weight', 'pos_embed',
                'layers.5.ffn.layers.1.weight'):
        assert torch.equal(model.backbone.state_dict()[key],
                           mae.backbone.state_dict()[key]), key
