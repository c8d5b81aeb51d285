"""The class-counts and head/tail helpers live in utils, below datasets
and models; datasets re-export them, models import them from utils."""
import ast
from pathlib import Path

import mmpretrain_osdtw
from mmpretrain_osdtw import datasets, utils

PACKAGE = Path(mmpretrain_osdtw.__file__).parent


def test_datasets_reexport_the_utils_helpers():
    assert datasets.load_class_counts is utils.load_class_counts
    assert datasets.split_head_tail is utils.split_head_tail
    assert datasets.task_num_classes is utils.task_num_classes
    head, tail = utils.split_head_tail([10, 50, 50, 3, 7])
    assert (head.tolist(), tail.tolist()) == ([1, 2], [0, 4, 3])


def imported_modules(path):
    """Absolute names of the package modules a file imports."""
    tree = ast.parse(path.read_text())
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = parts[:len(parts) - node.level]
            yield '.'.join(base + ((node.module, ) if node.module else ()))
        elif isinstance(node, ast.ImportFrom):
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


def test_models_utils_and_metrics_never_import_datasets():
    for sub in ('models', 'utils', 'evaluation'):
        for path in (PACKAGE / sub).rglob('*.py'):
            for module in imported_modules(path):
                assert not module.startswith('mmpretrain_osdtw.datasets'), (
                    f'{path} imports {module}')
