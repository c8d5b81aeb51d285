"""Datasets: class counts, long-tailed subsets, the head/tail split, images
decoded once into memory, the built-in scikit-learn digits dataset and exact,
faster versions of MMPretrain's per-sample training transforms
(``transforms``)."""
from . import transforms  # noqa: F401  (registers the Fast* TRANSFORMS)
from .annotation_list import malformed_list_line, parse_list_line
from .class_counts import (check_class_counts, describe_dataset,
                           get_class_counts, get_labels, get_num_classes,
                           load_class_counts)
from .head_tail_split import (HeadTailSplit, split_head_tail, task_index_map,
                              task_num_classes, task_target)
from .in_memory_images import InMemoryImages, split_loading_step
from .long_tailed import (LongTailedDataset, long_tailed_counts,
                          ordered_long_tailed_counts,
                          split_long_tailed_indices,
                          select_long_tailed_indices)
from .lt_benchmarks import ImageNetLT, PlacesLT
from .sklearn_digits import SklearnDigits

__all__ = [
    'malformed_list_line', 'parse_list_line', 'check_class_counts',
    'describe_dataset', 'get_class_counts', 'get_labels', 'get_num_classes',
    'load_class_counts', 'HeadTailSplit', 'split_head_tail', 'task_index_map',
    'task_num_classes', 'task_target', 'InMemoryImages', 'split_loading_step',
    'LongTailedDataset', 'long_tailed_counts', 'select_long_tailed_indices',
    'ordered_long_tailed_counts', 'split_long_tailed_indices', 'ImageNetLT',
    'PlacesLT', 'SklearnDigits'
]
