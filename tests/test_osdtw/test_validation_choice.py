"""The validation choice of ``(C, w_A)``: its settings, the choice rule, the
result file and heat map, and ``TaskPairChoice.from_validation``."""
import json
import math

import pytest

from mmpretrain_osdtw.osdtw.choice import TaskPairChoice
from mmpretrain_osdtw.osdtw.validation_choice import (
    DEFAULT_WEIGHTS, check_not_test_set, check_validation_cfg, choice_result,
    choose_cell, closest_to_half, grid_cells, plot_validation_heatmap,
    vit_num_layers)
from mmpretrain_osdtw.utils import InputError

DATASET = dict(type='LongTailedDataset', split='heldout',
               dataset=dict(type='SklearnDigits', split='train'))


def test_defaults():
    settings = check_validation_cfg('validation', dict(dataset=DATASET))
    assert settings == dict(dataset=DATASET, depths=None,
                            weights=list(DEFAULT_WEIGHTS), metric='top1')
    # proxy mode: no dataset needed, the settings still checked
    assert check_validation_cfg('proxy', None)['dataset'] is None


@pytest.mark.parametrize('validation, message', [
    (dict(dataset=DATASET, weigths=[0.5]),
     "train_cfg.validation.weigths is not a setting of the validation "
     "choice (did you mean 'weights'?)"),
    (dict(dataset=DATASET, depths=[0, -1]),
     'train_cfg.validation.depths must hold ints >= 0, got -1'),
    (dict(dataset=DATASET, depths=[0, 9]),
     'train_cfg.validation.depths holds 9, outside 0..4'),
    (dict(dataset=DATASET, depths=[]),
     'train_cfg.validation.depths must be a non-empty list, got []'),
    (dict(dataset=DATASET, weights=[0.5, 1.0]),
     'train_cfg.validation.weights must hold numbers in (0, 1), got 1.0'),
    (dict(dataset=DATASET, weights=0.5),
     'train_cfg.validation.weights must be a non-empty list, got 0.5'),
    (dict(dataset=DATASET, metric='top5'),
     "train_cfg.validation.metric must be one of ('top1', "
     "'mean_class_acc', 'nll'), got 'top5'"),
    (dict(dataset=DATASET, weights=[0.5, 0.5000000001]),
     'train_cfg.validation.weights holds weights that differ beyond 6 '
     'digits'),
    (dict(depths=[0]), 'train_cfg.validation.dataset is missing'),
    (dict(dataset='heldout'),
     'train_cfg.validation.dataset must be a dataset dict with a type'),
])
def test_bad_settings_are_one_line(validation, message):
    with pytest.raises(InputError) as err:
        check_validation_cfg('validation', validation, num_layers=4)
    assert message in str(err.value)
    assert '\n' not in str(err.value)


def test_bad_mode():
    with pytest.raises(InputError, match="train_cfg.choose must be one of "
                       r"\('proxy', 'validation'\), got 'valdation'"):
        check_validation_cfg('valdation', None)


def test_weights_and_depths_sorted_once():
    settings = check_validation_cfg(
        'validation', dict(dataset=DATASET, depths=[4, 0, 4],
                           weights=[0.7, 0.3, 0.7]))
    assert settings['depths'] == [0, 4]
    assert settings['weights'] == [0.3, 0.7]


def test_the_test_set_is_refused():
    test_set = dict(type='SklearnDigits', split='test',
                    pipeline=[dict(type='PackInputs')])
    with pytest.raises(InputError) as err:
        check_not_test_set(dict(test_set, _delete_=True),
                           dict(stage1_head=None, assemble=test_set))
    assert str(err.value).startswith(
        'train_cfg.validation.dataset is the test set of train_cfg.assemble')
    check_not_test_set(DATASET, dict(assemble=test_set))  # no error


def test_vit_num_layers():
    assert vit_num_layers(dict(backbone=dict(arch=dict(num_layers=6)))) == 6
    assert vit_num_layers(dict(backbone=dict(arch='b'))) == 12
    assert vit_num_layers(dict(backbone=dict(type='ResNet'))) is None


def test_cells_and_rule():
    assert grid_cells([0, 2], [0.3, 0.7]) == [(0, None), (2, 0.3), (2, 0.7)]
    assert closest_to_half([0.3, 0.7]) == 0.3
    assert closest_to_half([0.2, 0.6]) == 0.6
    cells = [dict(C=0, w_A=None, score=80.0),
             dict(C=2, w_A=0.3, score=80.0),
             dict(C=2, w_A=0.5, score=79.0),
             dict(C=1, w_A=0.5, score=80.0)]
    # a tie: the larger C, then w_A closer to 0.5
    assert choose_cell(cells, 'top1', [0.3, 0.5]) == dict(C=2, w_A=0.3,
                                                          score=80.0)
    cells.append(dict(C=2, w_A=0.6, score=80.0))
    assert choose_cell(cells, 'top1', [0.3, 0.5, 0.6])['w_A'] == 0.6
    # C = 0 wins: w_A is the weight closest to 0.5
    best = choose_cell([dict(C=0, w_A=None, score=90.0)] + cells, 'top1',
                       [0.3, 0.7])
    assert best == dict(C=0, w_A=0.3, score=90.0)
    # the NLL is minimised; a nan cell never wins
    nll = [dict(C=2, w_A=0.3, score=1.5), dict(C=4, w_A=0.3, score=1.2),
           dict(C=4, w_A=0.7, score=math.nan)]
    assert choose_cell(nll, 'nll', [0.3, 0.7])['C'] == 4
    with pytest.raises(ValueError, match='no validation cell'):
        choose_cell([dict(C=1, w_A=0.3, score=math.nan)], 'top1', [0.3])


def test_result_heatmap_and_choice(tmp_path):
    settings = dict(dataset=DATASET, depths=[0, 2, 4], weights=[0.3, 0.7],
                    metric='top1')
    cells = [dict(C=c, w_A=w, score=10.0 * c + (w or 0), metrics={},
                  seconds=0.1, reused=False)
             for c, w in grid_cells(settings['depths'], settings['weights'])]
    result = choice_result(cells, settings, 4, dict(total=1.23456))
    assert result['chosen'] == dict(C=4, w_A=0.7, score=40.7)
    assert result['metric_key'] == 'lt/top1' and result['L'] == 4
    assert result['seconds'] == dict(total=1.235)
    png = tmp_path / 'heat.png'
    plot_validation_heatmap(result, str(png))
    assert png.read_bytes()[:4] == b'\x89PNG'
    path = tmp_path / 'validation_choice.json'
    path.write_text(json.dumps(result))
    choice = TaskPairChoice.from_validation(str(path))
    assert choice == TaskPairChoice(4, 0.7, 4)
    assert choice.describe() == ('validation chose C=4, w_A=0.7; using '
                                 'C=4, w_A=0.7')
    over = TaskPairChoice.from_validation(str(path), shared_depth=2)
    assert (over.shared_depth, over.head_weight) == (2, 0.7)
    with pytest.raises(ValueError, match='shared_depth=5 is outside 0..4'):
        TaskPairChoice.from_validation(str(path), shared_depth=5)
