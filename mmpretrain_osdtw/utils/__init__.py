from .checks import check_int
from .io import (atomic_json_dump, atomic_torch_save, atomic_write,
                 atomic_write_text)

__all__ = [
    'atomic_json_dump', 'atomic_torch_save', 'atomic_write',
    'atomic_write_text', 'check_int'
]
