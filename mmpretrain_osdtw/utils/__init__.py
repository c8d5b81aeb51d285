"""Helpers below every other subpackage: checks, atomic file writes,
checkpoint loading that runs no code from the file, interrupts as one
line, and the class-counts and head/tail rules that the datasets and the
models both need (models never import datasets)."""
from .checkpoint_io import (UntrustedCheckpointError, checkpoints_trusted,
                            load_checkpoint_file, load_state_dict_file,
                            trust_checkpoints)
from .checks import check_checkpoint_path, check_int, did_you_mean
from .class_counts import load_class_counts
from .errors import InputError
from .head_tail import split_head_tail, task_index_map, task_num_classes
from .interrupts import (INTERRUPTED_EXIT_CODE, Interrupted,
                         epoch_in_progress, raise_on_signals)
from .io import (atomic_json_dump, atomic_torch_save, atomic_write,
                 atomic_write_text, check_digest, describe_write_error,
                 file_digest, naming_file, unreadable_checkpoint)

__all__ = [
    'INTERRUPTED_EXIT_CODE', 'InputError', 'Interrupted',
    'epoch_in_progress', 'raise_on_signals', 'atomic_json_dump',
    'atomic_torch_save', 'atomic_write',
    'atomic_write_text', 'check_checkpoint_path', 'check_digest', 'check_int', 'did_you_mean',
    'describe_write_error',
    'file_digest', 'load_class_counts', 'split_head_tail', 'task_index_map',
    'task_num_classes', 'naming_file', 'unreadable_checkpoint',
    'UntrustedCheckpointError', 'checkpoints_trusted', 'load_checkpoint_file',
    'load_state_dict_file', 'trust_checkpoints'
]
