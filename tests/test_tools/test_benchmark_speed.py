"""The speed benchmarks, tools/benchmark/speed (tiny workloads, no
timing)."""
import math

import pytest
import torch

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.osdtw.fisher import fisher_statistics
from tools.benchmark.speed import cli, data, fisher, proxy, workloads

torch.set_num_threads(1)


def _tiny():
    model = workloads.classifier(
        workloads.vit_cfg(16, 2, 8, 4), workloads.bce_head(16, task='tail'))
    return model, workloads.make_batches(6, 4, 8)


def test_loop_baseline_computes_the_same_statistics():
    model, batches = _tiny()
    stats = fisher_statistics(model, batches, chunk_size=4)
    v_sum, h_sum = fisher.loop_fisher(model, batches)
    for name in stats['v']:
        torch.testing.assert_close(
            stats['v'][name], v_sum[name] / 6, rtol=1e-4, atol=1e-9)
        torch.testing.assert_close(
            stats['h'][name], h_sum[name] / 6, rtol=1e-4, atol=1e-9)


@pytest.mark.filterwarnings('ignore:There is a performance drop')
def test_fused_attention_variant_agrees():
    model, batches = _tiny()
    ref = fisher_statistics(model, batches, chunk_size=4)
    fused = fisher.fused_attention_fisher(model, batches, 4)
    for name in ref['v']:
        torch.testing.assert_close(
            fused['v'][name], ref['v'][name], rtol=1e-4, atol=1e-9)


def test_vit_b_shapes_count():
    total = sum(math.prod(shape) for _, shape, _ in proxy.vit_b_shapes())
    assert round(total / 1e6, 1) == 86.6
    layers = {layer for _, _, layer in proxy.vit_b_shapes()}
    assert layers == set(range(13))


def test_synthetic_stats_slice_is_valid():
    stats = proxy.synthetic_vit_b_stats(1e-4)
    for s in stats:
        assert (s.h_a > 0).all() and (s.h_b > 0).all()
        assert (s.k.abs() <= (s.v_a * s.v_b).sqrt() + 1e-6).all()


# ------------------------------------------------------------ item 6: data
def _cifar_like_folders(root, per_class=4):
    """32x32 random JPEGs (synthetic) in CIFAR-10's class folders."""
    import numpy as np
    from PIL import Image
    rng = np.random.RandomState(0)
    for name in data.CIFAR10_CLASSES:
        folder = root / 'train' / name
        folder.mkdir(parents=True)
        for j in range(per_class):
            pixels = rng.randint(0, 256, (32, 32, 3)).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f'{j:04d}.jpg')
    return str(root)


def test_data_item_skips_without_the_folders(tmp_path, capsys):
    args = cli.parse_args(['data', '--data-root', str(tmp_path / 'none')])
    result = data.bench_data(args)
    assert 'skipped' in result and str(tmp_path / 'none') in result['skipped']
    assert 'skipped' in capsys.readouterr().out


def test_data_item_paths_stages_and_shares(tmp_path):
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    from mmpretrain.registry import DATASETS, MODELS
    init_default_scope('mmpretrain')
    root = _cifar_like_folders(tmp_path)
    loaders, datasets, preps = {}, {}, {}
    for memory in (False, True):
        cfg = data.cifar_lt_dataset_cfg(
            root, data.RECIPE_PIPELINE, memory, imb_ratio=2)
        assert cfg['dataset']['type'] == ('InMemoryImages'
                                          if memory else 'CustomDataset')
        name = 'mem' if memory else 'jpeg'
        datasets[name] = DATASETS.build(cfg)
        loaders[name] = Runner.build_dataloader(
            dict(batch_size=8, num_workers=0, dataset=datasets[name],
                 sampler=dict(type='DefaultSampler', shuffle=True)),
            seed=0)
        preps[name] = MODELS.build(
            data.cifar_preprocessor_cfg(data.RECIPE_BATCH_AUGMENTS))
    assert len(datasets['mem']) == len(datasets['jpeg']) == 25  # 4, 3, ..., 2
    costs = data.stage_costs(datasets['mem'], 5)
    assert list(costs) == [
        'in-memory image + annotation', 'RandomCrop', 'RandomFlip',
        'RandAugment', 'RandomErasing', 'PackInputs',
        'collate (pseudo_collate)', 'total'
    ]
    assert list(data.stage_costs(datasets['jpeg'], 5))[0] == (
        'annotation + LoadImageFromFile')
    model = data.finetune_model(dims=16, layers=1, heads=2, ffn=32)
    rows = data.timed_epochs(loaders, model, preps, max_batches=2)
    for row in rows.values():
        assert row['images'] == 16
        shares = data.data_share(row)
        assert 0 < shares['share'] <= shares['share_with_preprocessor'] < 1


# ------------------------------------------------------------ command line
def test_command_line_keeps_the_six_benchmarks():
    assert list(cli.BENCHES) == [
        'fisher', 'proxy', 'head', 'decoder', 'pipeline', 'data'
    ]
    args = cli.parse_args(['all', '--quick', '--threads', '1'])
    assert (args.bench, args.quick, args.threads) == ('all', True, 1)
    with pytest.raises(SystemExit):
        cli.parse_args(['nothing'])
