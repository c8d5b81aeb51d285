"""Pre-flight checks on configs written by the tests (synthetic lists of
empty image files: the pre-flight only checks that files exist)."""
import json
from pathlib import Path

import pytest
from mmengine.config import Config

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.apis import InputError, load_config, preflight

CLASSES = ('a', 'b', 'c')


def write_list_dataset(root: Path, labels=(0, 0, 1, 2)) -> Path:
    """``root/imgs/<label>/<i>.png`` (empty files) and ``root/train.txt``
    in MMPretrain's ``<path> <label>`` format."""
    lines = []
    for i, label in enumerate(labels):
        path = Path('imgs', str(label), f'{i}.png')
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).touch()
        lines.append(f'{path} {label}\n')
    (root / 'train.txt').write_text(''.join(lines))
    return root


def list_dataset(root: Path) -> dict:
    return dict(
        type='CustomDataset',
        data_root=str(root),
        ann_file='train.txt',
        metainfo=dict(classes=CLASSES),
        pipeline=[])


def make_cfg(root: Path, **extra) -> Config:
    cfg = dict(
        default_scope='mmpretrain',
        model=dict(
            type='ImageClassifier',
            backbone=dict(type='ResNet', depth=18),
            head=dict(
                type='LogitAdjustedBCEHead', num_classes=3, in_channels=8)),
        train_dataloader=dict(dataset=list_dataset(root)),
        val_dataloader=dict(dataset=list_dataset(root)),
        test_dataloader=dict(dataset=list_dataset(root)),
        val_evaluator=dict(type='ShotGroupMetric'),
        custom_hooks=[dict(type='ClassCountsHook')])
    cfg.update(extra)
    return Config(cfg)


@pytest.fixture
def root(tmp_path):
    return write_list_dataset(tmp_path / 'data')


def test_valid_config_passes(root):
    preflight(make_cfg(root))
    preflight(make_cfg(root), mode='test')


def test_missing_image_names_key_file_and_count(root):
    (root / 'imgs/1/2.png').unlink()
    with pytest.raises(InputError) as info:
        preflight(make_cfg(root))
    message = str(info.value)
    assert message.startswith('train_dataloader.dataset: 1 of 4 images')
    assert "ann_file '" in message and 'train.txt' in message
    assert 'imgs/1/2.png' in message and '(sample 2)' in message
    assert '\n' not in message


def test_missing_image_folder(root):
    for path in (root / 'imgs/2').iterdir():
        path.unlink()
    (root / 'imgs/2').rmdir()
    with pytest.raises(InputError) as info:
        preflight(make_cfg(root), mode='test')
    assert str(info.value).startswith('test_dataloader.dataset: 1 of 4 ')
    assert str(info.value).endswith(
        f"(sample 3); 1 folder(s) do not exist, e.g. '{root}/imgs/2'")


@pytest.mark.parametrize('line, reason', [
    ('imgs/no_label.png', "no label (expected '<path> <label>')"),
    ('c4_0.png four', "the label 'four' is not a whole number"),
])
def test_bad_list_line_names_key_file_line_and_text(root, line, reason):
    with open(root / 'train.txt', 'a') as f:
        f.write(f'{line}\nimgs/0/0.png x\n')
    with pytest.raises(InputError) as info:
        preflight(make_cfg(root))
    assert str(info.value) == (
        f"train_dataloader.dataset (CustomDataset): {root / 'train.txt'} "
        f'line 5: {line!r}: {reason}')


def test_bad_list_line_inside_a_wrapper(root):
    with open(root / 'train.txt', 'a') as f:
        f.write('c4_0.png four\n')
    cfg = make_cfg(root)
    cfg.train_dataloader.dataset = dict(
        type='LongTailedDataset',
        imb_ratio=2,
        dataset=dict(list_dataset(root), ann_file=str(root / 'train.txt')))
    with pytest.raises(
            InputError,
            match=r"^train_dataloader\.dataset \(LongTailedDataset\): .*"
            r"train\.txt line 5: 'c4_0\.png four': the label 'four' is not"):
        preflight(cfg)


def test_missing_data_folder(tmp_path):
    dataset = dict(
        type='CustomDataset',
        data_root=str(tmp_path / 'nope'),
        data_prefix='train',
        pipeline=[])
    cfg = Config(
        dict(default_scope='mmpretrain', val_dataloader=dict(dataset=dataset)))
    with pytest.raises(
            InputError,
            match=r"^val_dataloader\.dataset "
            r"\(CustomDataset\): .*No such file or directory: "
            r"'.*nope/train'"):
        preflight(cfg)


def test_imagenet_lt_list_and_missing_list(tmp_path):
    (tmp_path / 'train/n01440764').mkdir(parents=True)
    (tmp_path / 'train/n01440764/a.JPEG').touch()
    (tmp_path / 'ImageNet_LT_train.txt'
     ).write_text('train/n01440764/a.JPEG 0\ntrain/n01440764/b.JPEG 0\n')
    loader = dict(
        dataset=dict(
            type='ImageNetLT', data_root=str(tmp_path), split='train'))
    cfg = Config(dict(default_scope='mmpretrain', train_dataloader=loader))
    with pytest.raises(
            InputError,
            match=r'1 of 2 images of ImageNetLT .*'
            r'n01440764/b\.JPEG'):
        preflight(cfg)
    cfg.train_dataloader.dataset.split = 'val'
    with pytest.raises(
            InputError,
            match=r"ImageNetLT: the val list '.*"
            r"ImageNet_LT_val\.txt' does not exist"):
        preflight(cfg)


def test_dataset_type_error_keeps_its_type(root):
    # a wrong keyword is not a data error: no InputError, the traceback
    # shows where it comes from
    cfg = make_cfg(root)
    cfg.train_dataloader.dataset['imb_ratoi'] = 10
    with pytest.raises(TypeError, match='imb_ratoi'):
        preflight(cfg)


def test_init_checkpoint_missing_empty_and_url(root, tmp_path):
    cfg = make_cfg(root)
    init = dict(type='Pretrained', checkpoint=str(tmp_path / 'nope.pth'))
    cfg.model.backbone.init_cfg = init
    with pytest.raises(
            InputError,
            match=r"^model\.backbone\.init_cfg\.checkpoint: "
            r"checkpoint '.*nope\.pth' does not exist"):
        preflight(cfg)
    preflight(cfg, mode='test')  # a test loads load_from, not init_cfg
    init['checkpoint'] = ''
    cfg.model.backbone.init_cfg = init
    with pytest.raises(
            InputError,
            match=r'model\.backbone\.init_cfg\.checkpoint '
            r'is empty: give the weights with tools/train.py '
            r'--init-backbone CKPT or --cfg-options '):
        preflight(cfg)
    # inside an init_cfg list, a ViT would re-draw its position embedding
    # after loading the checkpoint
    cfg.model.backbone.init_cfg = [dict(type='Kaiming'), init]
    with pytest.raises(
            InputError,
            match=r'model\.backbone\.init_cfg: a Pretrained init inside '
            'a list'):
        preflight(cfg)
    init['checkpoint'] = 'https://example.com/weights.pth'  # not fetched
    cfg.model.backbone.init_cfg = init
    preflight(cfg)
    (tmp_path / 'w.pth').touch()
    init['checkpoint'] = str(tmp_path / 'w.pth')
    cfg.model.backbone.init_cfg = init
    preflight(cfg)


def test_load_from_missing(root, tmp_path):
    cfg = make_cfg(root, load_from=str(tmp_path / 'ckpt.pth'))
    with pytest.raises(
            InputError,
            match=r"^load_from: checkpoint '.*"
            r"ckpt\.pth' does not exist"):
        preflight(cfg, mode='test')


@pytest.mark.parametrize(
    'counts, match',
    [([3, 2], r'model\.head\.class_counts: the counts: 2 entries, but '
      'there are 3 classes'),
     ([3, -1, 2], r'model\.head\.class_counts: class counts: entry 1 '
      r'\(class 1\) is -1'),
     ([3, 0, 2], r'model\.head\.class_counts: the counts: class\(es\) 1 '
      'have no training sample'),
     ('missing.json', r"model\.head\.class_counts: class counts file "
      r"'.*missing\.json' does not exist")])
def test_bad_head_counts_name_the_key(root, tmp_path, counts, match):
    if isinstance(counts, str):
        counts = str(tmp_path / counts)
    cfg = make_cfg(root)
    cfg.model.head.class_counts = counts
    with pytest.raises(InputError, match=match):
        preflight(cfg)


def test_metric_and_hook_counts_checked_against_training_set(root, tmp_path):
    path = tmp_path / 'counts.json'
    path.write_text(json.dumps([5, 4, 3, 2]))
    cfg = make_cfg(
        root,
        val_evaluator=dict(type='ShotGroupMetric', class_counts=str(path)))
    with pytest.raises(
            InputError,
            match=r'^val_evaluator\.class_counts: the '
            'counts: 4 entries, but there are 3 classes'):
        preflight(cfg)
    cfg = make_cfg(
        root,
        custom_hooks=[
            dict(type='EMAHook'),
            dict(type='ClassCountsHook', class_counts=[1])
        ])
    with pytest.raises(InputError, match=r'^custom_hooks\[1\]\.class_counts'):
        preflight(cfg)


def test_empty_class_in_training_set(tmp_path):
    root = write_list_dataset(tmp_path, labels=(0, 0, 2))
    with pytest.raises(
            InputError,
            match=r"train_dataloader\.dataset: the training set "
            r"CustomDataset \(ann_file .*\): class\(es\) 1 \('b'\) have no "
            'training sample'):
        preflight(make_cfg(root))
    # without anything using the class counts an empty class is allowed
    preflight(make_cfg(root, custom_hooks=[]))


def write_pipeline(folder: Path, root: Path) -> Path:
    """A pipeline config and two stage configs (the others omitted)."""
    stage = make_cfg(root)
    stage.dump(str(folder / 'stage1_head.py'))
    stage.dump(str(folder / 'stage2.py'))
    pipeline = folder / 'pipeline.py'
    pipeline.write_text(
        "train_cfg = dict(type='StageRunner', stage1_head='stage1_head.py',"
        " stage1_tail=None, stage2='stage2.py', assemble=None)\n")
    return pipeline


def test_pipeline_checks_every_stage_config(root, tmp_path):
    pipeline = write_pipeline(tmp_path, root)
    preflight(load_config(str(pipeline)))
    (root / 'imgs/0/0.png').unlink()
    with pytest.raises(
            InputError,
            match=r'^train_cfg\.stage1_head '
            r'\(stage1_head\.py\): train_dataloader\.dataset: 1 '
            'of 4 images'):
        preflight(load_config(str(pipeline)))


def test_pipeline_applies_stage_cfg_options(root, tmp_path):
    pipeline = write_pipeline(tmp_path, root)
    cfg = load_config(str(pipeline))
    cfg.train_cfg.stage_cfg_options = {
        'model.backbone.init_cfg': dict(type='Pretrained', checkpoint='')
    }
    with pytest.raises(
            InputError,
            match=r'^train_cfg\.stage1_head \(stage1_head\.py\):'
            r' model\.backbone\.init_cfg\.checkpoint is empty: give the '
            r'weights with --cfg-options train_cfg\.stage_cfg_options\.model'
            r'\.backbone\.init_cfg\.checkpoint=<path or URL>'):
        preflight(cfg)


def test_pipeline_missing_stage_config(root, tmp_path):
    pipeline = write_pipeline(tmp_path, root)
    (tmp_path / 'stage2.py').unlink()
    with pytest.raises(
            InputError,
            match=r"^train_cfg\.stage2: the stage "
            r"config '.*stage2\.py' does not exist"):
        preflight(load_config(str(pipeline)))


DIGITS = Path(__file__).resolve().parents[2] / \
    'configs/baselines/digits_lt/vit-nano-p2_ce.py'


@pytest.mark.parametrize('option, mode, message', [
    ({'train_cfg.max_epoch': 2}, 'train', "train_cfg.max_epoch is not an "
     "argument of EpochBasedTrainLoop (did you mean 'max_epochs'?)"),
    ({'val_cfg.fp61': True}, 'train',
     "val_cfg.fp61 is not an argument of ValLoop (did you mean 'fp16'?)"),
    ({'test_cfg.xyz': 1}, 'test', 'test_cfg.xyz is not an argument of '
     'TestLoop (its arguments: fp16, type)'),
    # by iteration: the config's max_epochs is the first wrong key
    ({'train_cfg.by_epoch': False}, 'train', "train_cfg.max_epochs is not "
     "an argument of IterBasedTrainLoop (did you mean 'max_iters'?)"),
])
def test_loop_key_typo_names_the_closest_argument(option, mode, message):
    cfg = load_config(str(DIGITS))
    cfg.merge_from_dict(option)
    with pytest.raises(InputError) as info:
        preflight(cfg, mode=mode)
    assert str(info.value) == message


def test_scheduler_that_cannot_run_names_it_and_max_epochs():
    cfg = load_config(str(DIGITS))
    cfg.train_cfg.max_epochs = 1  # the cosine begins after epoch 1
    with pytest.raises(InputError) as info:
        preflight(cfg)
    # 14 iterations: 441 Digits-LT training images in batches of 32
    assert str(info.value) == (
        'param_scheduler[1] (CosineAnnealingLR, begin=1, '
        'end=train_cfg.max_epochs) cannot run with train_cfg.max_epochs=1: '
        'end should be larger than begin, but got begin=14, end=14 '
        '(in iterations, 14 per epoch)')
    cfg.train_cfg.max_epochs = 2
    preflight(cfg)


def test_pipeline_stage_typo_is_prefixed_with_the_stage(root, tmp_path):
    cfg = load_config(str(write_pipeline(tmp_path, root)))
    cfg.train_cfg.stage_cfg_options = {'train_cfg.max_epoch': 2}
    with pytest.raises(
            InputError,
            match=r'^train_cfg\.stage1_head \(stage1_head\.py\): '
            r'train_cfg\.max_epoch is not an argument of EpochBasedTrainLoop '
            r"\(did you mean 'max_epochs'\?\)$"):
        preflight(cfg)
