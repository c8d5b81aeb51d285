"""mmpretrain-osdtw: long-tailed recognition (OSDTW and more) for MMPretrain.

Importing this package registers every component in ``mmpretrain.registry``
and applies the stack fixes of :mod:`mmpretrain_osdtw.compat`. Configs pull
it in with::

    custom_imports = dict(imports=['mmpretrain_osdtw'],
                          allow_failed_imports=False)
"""
from .compat import apply_stack_fixes
from .version import __version__

apply_stack_fixes()

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__all__ = ['__version__', 'apply_stack_fixes']
