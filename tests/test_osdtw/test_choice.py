"""Tests of TaskPairChoice: from search.json, overrides, config names."""
import json

import pytest

from mmpretrain_osdtw.osdtw.choice import TaskPairChoice, check_override


@pytest.fixture
def search_json(tmp_path):
    path = tmp_path / 'search.json'
    path.write_text(json.dumps(dict(L=4, chosen=dict(C=2, w_A=0.35))))
    return str(path)


def test_from_search_and_overrides(search_json):
    choice = TaskPairChoice.from_search(search_json)
    assert choice == TaskPairChoice(2, 0.35, 4)
    assert choice.to_dict() == dict(
        shared_depth=2, head_weight=0.35, num_layers=4)
    assert 'search chose C=2, w_A=0.35; using C=2' in choice.describe()
    over = TaskPairChoice.from_search(search_json, shared_depth=0,
                                      head_weight=0.5)
    assert (over.shared_depth, over.head_weight) == (0, 0.5)
    assert isinstance(over.head_weight, float)


def test_config_names_and_stage2_depth(search_json):
    choice = TaskPairChoice.from_search(search_json)
    assert choice.model_overrides() == {
        'model.shared_depth': 2,
        'model.head_weight': 0.35
    }
    assert choice.model_overrides(0)['model.shared_depth'] == 0
    assert choice.stage2_depth('truncate') == 4
    assert choice.stage2_depth('exact') == 2
    with pytest.raises(ValueError, match='stage2_mode must be one of'):
        choice.stage2_depth('other')


def test_bad_overrides_are_clear_errors(search_json):
    with pytest.raises(ValueError, match='train_cfg.shared_depth must be'):
        check_override(shared_depth=-1)
    with pytest.raises(ValueError, match=r'head_weight must be in \[0, 1\]'):
        check_override(head_weight=1.5)
    with pytest.raises(ValueError,
                       match='train_cfg.shared_depth=9 is outside 0..4'):
        TaskPairChoice.from_search(search_json, shared_depth=9)
