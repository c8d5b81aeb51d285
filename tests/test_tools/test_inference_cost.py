"""tools/benchmark/inference_cost.py on the Digits-LT models (8 px ViT,
4 blocks): exact parameter and FLOP counts, no timing asserted."""
import json
import pytest
import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config
from mmpretrain.models.utils.attention import (
    MultiheadAttention, scaled_dot_product_attention_pyimpl)

import mmpretrain_osdtw  # noqa: F401
from mmpretrain_osdtw.utils.head_tail import task_num_classes
from tools.benchmark import inference_cost as cost

torch.set_num_threads(1)

BASELINE = 'configs/baselines/digits_lt/vit-nano-p2_bal-bce.py'
ASSEMBLE = 'configs/osdtw/digits_lt/stage3_assemble.py'
DEPTHS = (0, 2, 4)


def _dual(depth: int):
    return cost.load_classifier(
        ASSEMBLE, cfg_options={'model.shared_depth': depth})


@pytest.fixture(scope='module')
def result():
    base, shape = cost.load_classifier(BASELINE)
    rows = [cost.CostRow('baseline', [base], shape)]
    rows += [cost.CostRow(f'C={c}', [_dual(c)[0]], shape) for c in DEPTHS]
    twin = cost.load_classifier(BASELINE)[0]
    rows.append(cost.CostRow('ensemble', [base, twin], shape))
    out = cost.measure_rows(rows, batch_sizes=(1, 3), repeats=1, warmup=0)
    return {row['name']: row for row in out['rows']}, out, base


def _numel(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_input_shape_from_the_backbone_or_the_test_pipeline():
    assert cost.load_classifier(BASELINE)[1] == (3, 8, 8)
    assert cost.load_classifier(BASELINE, input_size=[6, 4])[1] == (3, 6, 4)
    pipeline = [
        dict(type='ResizeEdge', scale=256),
        dict(type='CenterCrop', crop_size=(224, 160)),  # (W, H)
        dict(type='PackInputs')
    ]
    cfg = Config(
        dict(
            model=dict(backbone=dict(type='ResNet')),
            test_dataloader=dict(dataset=dict(pipeline=pipeline))))
    assert cost.input_shape(cfg) == (3, 160, 224)
    with pytest.raises(ValueError, match='--input-size'):
        cost.input_shape(Config(dict(model=dict(backbone={}))))


@pytest.mark.parametrize('depth', DEPTHS)
def test_dual_decoder_params_are_the_baseline_plus_its_copies(result, depth):
    rows, _, base = result
    vit, layers = base.backbone, base.backbone.num_layers
    stem = (vit.patch_embed, vit.pre_norm)
    copies = sum(_numel(vit.layers[i]) for i in range(depth, layers))
    copies += _numel(vit.ln1)
    if depth == 0:
        copies += sum(_numel(m) for m in stem)
        copies += vit.cls_token.numel() + vit.pos_embed.numel()
    num_classes, dims = base.head.num_classes, base.head.in_channels
    heads = sum((dims + 1) * task_num_classes(num_classes, task)
                for task in ('head', 'tail'))
    expected = _numel(base) + copies + heads - _numel(base.head)
    assert rows[f'C={depth}']['params'] == expected


def test_flops_grow_as_the_shared_depth_falls(result):
    rows, _, base = result
    flops = [rows[f'C={c}']['gflops'] for c in DEPTHS]
    assert flops == sorted(flops, reverse=True) and len(set(flops)) == 3
    # C = 0: two whole bodies; the two task heads together are one head.
    head = base.head.in_channels * base.head.num_classes / 1e9
    assert rows['C=0']['gflops'] == pytest.approx(
        2 * rows['baseline']['gflops'] - head, rel=1e-12)
    # Each unshared block runs twice.
    tokens = torch.zeros(1, 1 + 4 * 4, base.head.in_channels)
    block = FlopAnalyzer(base.backbone.layers[0], (tokens, ))
    block.set_op_handle('aten::scaled_dot_product_attention',
                        cost.sdpa_flop_jit)
    assert rows['C=2']['gflops'] - rows['C=4']['gflops'] == pytest.approx(
        2 * block.total() / 1e9, rel=1e-9)


def test_attention_handle_matches_the_python_attention(result):
    _, _, base = result
    fused = cost.count_flops(base, (3, 8, 8))[0]
    attns = [m for m in base.modules() if isinstance(m, MultiheadAttention)]
    kept = [m.scaled_dot_product_attention for m in attns]
    for module in attns:  # matmuls, which mmengine counts itself
        module.scaled_dot_product_attention = \
            scaled_dot_product_attention_pyimpl
    try:
        assert cost.count_flops(base, (3, 8, 8))[0] == fused
    finally:
        for module, fn in zip(attns, kept):
            module.scaled_dot_product_attention = fn


def test_ensemble_of_two_is_twice_one_model(result):
    rows, out, _ = result
    one, two = rows['baseline'], rows['ensemble']
    assert two['params'] == 2 * one['params']
    assert two['gflops'] == pytest.approx(2 * one['gflops'], rel=1e-12)
    assert two['ratio']['gflops'] == pytest.approx(2.0)
    assert set(two['ms_per_image']) == {'1', '3'}
    assert out['threads'] == 1 and out['torch'] == torch.__version__


def test_checkpoint_is_loaded_strictly(tmp_path):
    model = _dual(0)[0]
    path = str(tmp_path / 'assembled.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    loaded = cost.load_classifier(ASSEMBLE, path, {'model.shared_depth': 0})[0]
    torch.testing.assert_close(loaded.state_dict(), model.state_dict())
    with pytest.raises(RuntimeError, match='size mismatch|key'):
        cost.load_classifier(ASSEMBLE, path, {'model.shared_depth': 4})


def test_cli_writes_the_json(tmp_path, capsys):
    out = tmp_path / 'cost.json'
    assert cost.main([
        ASSEMBLE, '--shared-depths', '0', '4', '--reference', BASELINE,
        '--ensemble', BASELINE, BASELINE, '--batch-sizes', '1', '2',
        '--repeats', '1', '--warmup', '0', '--json',
        str(out)
    ]) == 0
    printed = capsys.readouterr().out
    assert 'OMP_NUM_THREADS=' in printed and '| model C=0 |' in printed
    data = json.loads(out.read_text())
    names = [row['name'] for row in data['rows']]
    assert names == ['reference', 'model C=0', 'model C=4', 'ensemble of 2']
    assert data['rows'][3]['params'] == 2 * data['rows'][0]['params']
    assert set(data['rows'][0]['ms_per_image']) == {'1', '2'}
    assert data['device'] == 'cpu' and data['batch_sizes'] == [1, 2]


def test_shared_depths_refuse_a_checkpoint():
    args = cost.parse_args([ASSEMBLE, 'x.pth', '--shared-depths', '0'])
    with pytest.raises(ValueError, match='leave the checkpoint out'):
        cost.build_rows(args)


def test_split_specs_needs_a_config_first():
    assert cost.split_specs(['a.py', 'b.py', 'b.pth']) == [('a.py', None),
                                                           ('b.py', 'b.pth')]
    with pytest.raises(ValueError, match='must follow its config'):
        cost.split_specs(['a.pth'])


def test_cfg_options_reach_every_row():
    # one regime for every row: the reference and the ensemble members too
    args = cost.parse_args([
        ASSEMBLE, '--reference', BASELINE, '--ensemble', BASELINE, BASELINE,
        '--cfg-options', 'model.backbone.patch_size=16'
    ])
    rows = cost.build_rows(args)
    assert [r.name for r in rows] == ['reference', 'model', 'ensemble of 2']
    for row in rows:
        for model in row.models:
            assert model.backbone.patch_embed.projection.kernel_size == \
                (16, 16)
