"""The MGP (MAE pretraining) configs: LiVT's recipe, the long-tailed
training sets, encoders equal to the fine-tuning backbones, and a short
run whose reconstruction loss falls."""
import time
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.apis import build_runner, set_default_dataloader_cfg
from mmpretrain_osdtw.models.utils import check_mgp_geometry

REPO = Path(__file__).resolve().parents[2]
MGP = REPO / 'configs/mgp'
CONFIGS = {p.parent.name: p for p in sorted(MGP.glob('*/*.py'))}
VIT_B = ('imagenet_lt', 'places_lt')
SMALL = ('cifar10_lt', 'cifar100_lt', 'digits_lt')
LONG_TAILED = ('LongTailedDataset', 'ImageNetLT', 'PlacesLT')


def load(dataset: str) -> Config:
    return Config.fromfile(str(CONFIGS[dataset]))


def test_one_config_per_dataset():
    assert sorted(CONFIGS) == sorted(VIT_B + SMALL)


@pytest.mark.parametrize('dataset', VIT_B + SMALL)
def test_mae_components_on_the_long_tailed_set(dataset):
    cfg = load(dataset)
    check_mgp_geometry(cfg)
    model = cfg.model
    assert (model.type, model.backbone.type, model.neck.type,
            model.head.type) == ('MAE', 'MAEViT', 'MAEPretrainDecoder',
                                 'MAEPretrainHead')
    assert model.backbone.mask_ratio == 0.75
    assert model.head.norm_pix is True
    assert model.head.loss == dict(
        type='PixelReconstructionLoss', criterion='L2')
    assert cfg.data_preprocessor.type == 'SelfSupDataPreprocessor'
    assert cfg.train_dataloader.dataset.type in LONG_TAILED
    assert cfg.val_dataloader is None and cfg.test_dataloader is None
    assert cfg.custom_hooks == []  # labels unused: no class counts
    # fp32 by default; `tools/train.py --amp` for a GPU
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, tuple(opt.betas),
            opt.weight_decay) == ('AdamW', (0.9, 0.95), 0.05)
    # LiVT's effective lr: 1.5e-4 per 256 images at its total batch 4096
    # (ViT-B); the CPU configs carry it to batch 256 with the square-root
    # rule for Adam: 2.4e-3 * sqrt(256 / 4096) = 6e-4
    livt_lr = 1.5e-4 * 4096 / 256
    batch = cfg.auto_scale_lr.base_batch_size
    assert opt.lr == pytest.approx(livt_lr * (batch / 4096)**0.5)
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, cosine.type) == ('LinearLR', 'CosineAnnealingLR')
    assert warmup.end == cosine.begin
    assert warmup.end * 20 == cfg.train_cfg.max_epochs  # LiVT: 40 of 800


@pytest.mark.parametrize('dataset', VIT_B)
def test_vit_b_livt_recipe(dataset):
    cfg = load(dataset)
    backbone = cfg.model.backbone
    assert (backbone.arch, backbone.img_size, backbone.patch_size) == ('b',
                                                                       224, 16)
    assert cfg.model.neck.num_patches == 196
    assert cfg.train_cfg.max_epochs == 800
    assert cfg.param_scheduler[0].end == 40
    assert cfg.auto_scale_lr.base_batch_size == 4096
    crop = cfg.train_dataloader.dataset.pipeline[1]
    assert (crop.type, crop.scale,
            tuple(crop.crop_ratio_range)) == ('RandomResizedCrop', 224, (0.2,
                                                                         1.0))


@pytest.mark.parametrize('dataset', SMALL)
def test_small_configs_cpu_defaults(dataset):
    cfg = load(dataset)
    assert cfg.train_dataloader.batch_size == 256
    assert cfg.auto_scale_lr.base_batch_size == 256


@pytest.mark.parametrize('dataset', ('cifar10_lt', 'cifar100_lt'))
def test_cifar_encoder_is_the_fine_tuning_vit(dataset):
    """The CIFAR-LT fine-tuning ViT: 32 px, patch 8 (16 tokens), 96 dims,
    6 blocks, 3 heads, MLP 384; decoder 64 dims, 2 blocks, 2 heads."""
    model = load(dataset).model
    assert model.backbone.arch == dict(
        embed_dims=96, num_layers=6, num_heads=3, feedforward_channels=384)
    assert (model.backbone.img_size, model.backbone.patch_size) == (32, 8)
    assert (model.neck.num_patches, model.neck.decoder_embed_dim,
            model.neck.decoder_depth, model.neck.decoder_num_heads) == (16, 64,
                                                                        2, 2)


def test_digits_encoder_is_the_fine_tuning_vit():
    mae = load('digits_lt').model.backbone
    vit = Config.fromfile(
        str(REPO / 'configs/_base_/models/vit-nano-p2_8px.py')).model.backbone
    assert mae.arch == vit.arch
    assert (mae.img_size, mae.patch_size) == (vit.img_size, vit.patch_size)


def test_reconstruction_loss_decreases(tmp_path):
    """Digits-LT MGP (real 8x8 scans) shrunk to 4 epochs at batch 32 (56
    iterations, lr 1e-3, 1 warm-up epoch): the logged reconstruction loss of
    the last 10 iterations is under half that of the first 5."""
    cfg = load('digits_lt')
    cfg.merge_from_dict({
        'train_dataloader.batch_size': 32,
        'train_cfg.max_epochs': 4,
        'param_scheduler.0.end': 1,
        'param_scheduler.1.begin': 1,
        'optim_wrapper.optimizer.lr': 1e-3,
        'default_hooks.checkpoint.interval': 4,
        'randomness.seed': 0,
        'work_dir': str(tmp_path),
        'experiment_name': f'mgp_loss_{time.time_ns()}',
    })
    set_default_dataloader_cfg(cfg)
    runner = build_runner(cfg)
    runner.train()
    losses = np.asarray(runner.message_hub.get_scalar('train/loss').data[0])
    assert len(losses) == 56 and np.isfinite(losses).all()
    assert losses[-10:].mean() < 0.5 * losses[:5].mean(), losses.round(3)
    assert (tmp_path / 'epoch_4.pth').is_file()
