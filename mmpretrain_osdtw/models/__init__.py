from . import classifiers, heads, losses, utils  # noqa: F401
