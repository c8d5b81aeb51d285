"""tools/train.py: fine-tuning with --init-backbone from an MGP checkpoint,
and one-line errors, before any training step, for an MGP config that does
not fit its images, a missing init checkpoint (before torch loads) and
another architecture's checkpoint (no log folder left behind)."""
from pathlib import Path

import torch
from _tools import run_log, run_tool
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.apis import build_model

REPO = Path(__file__).resolve().parents[2]
MGP = 'configs/mgp/digits_lt/mae_vit-nano-p2_1xb256-coslr-200e.py'
BASELINE = 'configs/baselines/digits_lt/vit-nano-p2_ce.py'
# Two short epochs (the schedules' cosine starts after epoch 1).
TWO_EPOCHS = ['train_cfg.max_epochs=2', 'train_dataloader.batch_size=128']


def save_mgp(path: Path, **backbone) -> dict:
    """The Digits-LT MGP model (another width with ``backbone``), moved
    off its initialisation by a few AdamW steps on synthetic images."""
    cfg = Config.fromfile(str(REPO / MGP))
    cfg.model.backbone.update(backbone)
    if 'arch' in backbone:
        cfg.model.neck.embed_dim = backbone['arch']['embed_dims']
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = build_model(cfg)
        model.init_weights()
    optim = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(3):
        loss = model.loss(torch.randn(4, 3, 8, 8), None)['loss']
        optim.zero_grad()
        loss.backward()
        optim.step()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save(dict(state_dict=state, meta=dict()), path)
    return state


def assert_one_line_error(proc, *needles: str) -> str:
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('error: ')
    for needle in needles:
        assert needle in last, last
    assert 'Epoch(train)' not in proc.stdout + proc.stderr
    return last


def test_fine_tuning_starts_from_the_mgp_encoder(tmp_path):
    """With lr 0 (the schedule's eta_min reaches only epoch 2) the epoch-1
    checkpoint still holds the initial weights: every encoder tensor is
    the MGP checkpoint's, and the log has the one-line load summary."""
    ckpt = tmp_path / 'mgp.pth'
    mgp = save_mgp(ckpt)
    work = tmp_path / 'ft'
    run_tool('tools/train.py', BASELINE, '--work-dir', work, '--no-validate',
             '--init-backbone', ckpt, '--cfg-options', *TWO_EPOCHS,
             'optim_wrapper.optimizer.lr=0')
    assert f'tensors from {ckpt} into VisionTransformer; missing: []; ' \
        'unexpected: []' in run_log(work)
    state = torch.load(
        work / 'epoch_1.pth', map_location='cpu',
        weights_only=False)['state_dict']
    encoder = [k for k in mgp if k.startswith('backbone.')]
    assert len(encoder) > 50
    for key in encoder:
        assert torch.equal(state[key], mgp[key]), key


def test_decoder_patches_that_do_not_fit(tmp_path):
    proc = run_tool(
        'tools/train.py',
        MGP,
        '--work-dir',
        tmp_path,
        '--cfg-options',
        'model.neck.num_patches=196',
        check=False)
    assert_one_line_error(proc, MGP, 'model.neck.num_patches=196', '= 16')


def test_missing_init_checkpoint(tmp_path):
    absent = str(tmp_path / 'absent.pth')
    proc = run_tool(
        'tools/train.py',
        BASELINE,
        '--work-dir',
        tmp_path,
        '--init-backbone',
        absent,
        check=False)
    assert_one_line_error(proc, f"--init-backbone: checkpoint '{absent}' "
                          f'does not exist; {tmp_path} holds no .pth file')


def test_another_architecture(tmp_path):
    """Through a TaskPairClassifier (stage 1): the error comes at weight
    initialisation, before the first step (each model class in
    tests/test_models/test_utils/test_checked_pretrained.py)."""
    ckpt = tmp_path / 'wide.pth'
    work = tmp_path / 'ft'
    save_mgp(
        ckpt,
        arch=dict(
            embed_dims=96, num_layers=4, num_heads=4,
            feedforward_channels=128))
    proc = run_tool(
        'tools/train.py',
        'configs/osdtw/digits_lt/stage1_pair.py',
        '--work-dir',
        work,
        '--init-backbone',
        ckpt,
        '--cfg-options',
        *TWO_EPOCHS,
        check=False)
    assert_one_line_error(proc, str(ckpt), 'first mismatched key',
                          "'cls_token'")
    assert not work.exists()  # its log folder is removed


def test_init_backbone_on_a_pipeline_config(tmp_path):
    """On a pipeline --init-backbone sets train_cfg.init_backbone, checked
    before anything trains."""
    config = 'configs/osdtw/digits_lt/pipeline.py'
    absent = str(tmp_path / 'mgp.pth')
    proc = run_tool(
        'tools/train.py',
        config,
        '--work-dir',
        tmp_path,
        '--init-backbone',
        absent,
        check=False)
    assert_one_line_error(proc, f"--init-backbone: checkpoint '{absent}' "
                          'does not exist')
