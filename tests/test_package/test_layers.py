"""The package's floors, top to bottom: apis -> engine -> osdtw ->
models / datasets / evaluation -> utils (tools sit above apis). A module
imports only its own floor and the floors below; nothing but tools/
imports apis/."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / 'mmpretrain_osdtw'
FLOOR = {
    'apis': 1,
    'engine': 2,
    'osdtw': 3,
    'models': 4,
    'datasets': 4,
    'evaluation': 4,
    'utils': 5,
}
MODULES = sorted(p for p in PACKAGE.rglob('*.py')
                 if p.relative_to(PACKAGE).parts[0] in FLOOR)


def imported_floors(path: Path) -> list:
    """``(line, floor name)`` of every import of another subpackage."""
    parts = path.relative_to(PACKAGE).parts
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 0:
            names = (node.module or '').split('.')
            if names[0] == 'mmpretrain_osdtw' and len(names) > 1:
                out.append((node.lineno, names[1]))
        else:  # relative: resolve against the module's own package
            base = list(parts[:-1])[:len(parts) - node.level]
            names = base + (node.module or '').split('.')
            if names and names[0]:
                out.append((node.lineno, names[0]))
    return out


@pytest.mark.parametrize(
    'path', MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_upward_import(path):
    own = path.relative_to(PACKAGE).parts[0]
    upward = [(line, name) for line, name in imported_floors(path)
              if name in FLOOR and FLOOR[name] < FLOOR[own]]
    assert not upward, f'{path.name} imports a floor above {own}: {upward}'
