"""Random methods of a transform called without mmcv's per-call copy.

``mmcv.transforms.utils.cache_randomness`` makes every access to a decorated
method (``random_disable``, ``rand_crop_params``, ...) return a ``copy.copy``
of the decorator, which costs more than most of the methods themselves on a
32 px image. :class:`DirectRandomMethod` is installed on one transform
instance in place of such a method: it calls the same function on the same
instance, so it draws the same random numbers in the same order, and it
honours ``mmcv.transforms.utils.cache_random_params`` exactly as the
decorator does (first call cached while the context is active, the cache
dropped on the next call outside it).
"""
import inspect
from typing import Callable, Optional

from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness


class DirectRandomMethod:
    """One ``cache_randomness`` method of one transform, without the copy.

    Args:
        owner (BaseTransform): The transform the method belongs to.
        name (str): The method's name; it must be decorated with
            ``cache_randomness`` in the owner's class.
        func (callable, optional): An exact replacement of the decorated
            function (same draws, same result), a plain function defined at
            class or module level, called as ``func(owner, *args)``.
            Defaults to the decorated function itself.
    """

    __slots__ = ('owner', 'name', 'func', 'replaced')

    def __init__(self,
                 owner: BaseTransform,
                 name: str,
                 func: Optional[Callable] = None):
        descriptor = inspect.getattr_static(type(owner), name)
        if not isinstance(descriptor, cache_randomness):
            raise TypeError(f'{type(owner).__name__}.{name} is not a '
                            'cache_randomness method')
        self.owner = owner
        self.name = name
        self.replaced = func
        self.func = descriptor.func if func is None else func

    def __call__(self, *args, **kwargs):
        owner = self.owner
        state = owner.__dict__
        if state.get('_cache_enabled', False):
            cache = state.setdefault('_cache', {})
            if self.name not in cache:
                cache[self.name] = self.func(owner, *args, **kwargs)
            return cache[self.name]
        if '_cache' in state:
            del state['_cache']
        return self.func(owner, *args, **kwargs)

    def __reduce__(self):
        # the function itself cannot be pickled by reference (the class
        # attribute is the decorator), so rebuild from owner and name
        return DirectRandomMethod, (self.owner, self.name, self.replaced)


def install_direct_random_methods(transform: BaseTransform) -> BaseTransform:
    """Replace every ``cache_randomness`` method of ``transform`` (on this
    instance only) by a :class:`DirectRandomMethod`; returns ``transform``."""
    for name in getattr(type(transform), '_methods_with_randomness', ()):
        if name not in transform.__dict__ and isinstance(
                inspect.getattr_static(type(transform), name),
                cache_randomness):
            setattr(transform, name, DirectRandomMethod(transform, name))
    return transform
