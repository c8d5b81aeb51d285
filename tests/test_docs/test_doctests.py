"""Every docstring example of the package and of the benchmark tools runs
and prints what it shows (examples that are config snippets or need data
are marked ``# doctest: +SKIP``)."""
import doctest
import importlib
import logging
import pkgutil

import pytest

PACKAGES = ('mmpretrain_osdtw', 'tools.benchmark')


def modules():
    for root in PACKAGES:
        package = importlib.import_module(root)
        yield root
        for info in pkgutil.walk_packages(package.__path__, root + '.'):
            if not info.name.endswith('__main__'):
                yield info.name


@pytest.fixture(autouse=True)
def quiet_mmengine():
    """mmengine's INFO lines (e.g. a metric's class summary, logged to the
    current logger) are logs, not an example's output."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


@pytest.mark.parametrize('name', list(modules()))
def test_docstring_examples(name):
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test)
    failed, attempted = runner.summarize(verbose=False)
    assert failed == 0, f'{failed} of {attempted} examples of {name} failed'
