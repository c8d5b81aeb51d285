from . import more  # noqa: F401
from . import classifiers, heads, losses, utils  # noqa: F401
