import os
import sys
from pathlib import Path

import torch

# Tests run on small CPUs next to other work: one thread is both faster and
# steadier than two (see ../shared/docs/STACK_NOTES.md).
os.environ.setdefault('OMP_NUM_THREADS', '1')
torch.set_num_threads(1)

# Make `tests._shared` importable as `_shared` from every test folder.
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: The slow tier: end-to-end trainings, tools run as processes, several
#: processes, and the config-resolution sweeps (node-id prefixes, relative
#: to tests/). ``python -m pytest tests -q -m "not slow"`` is the fast tier
#: for daily work; CI runs both. A test measured above ~3 s on the 2-core
#: machine belongs here.
SLOW = (
    'test_configs/test_resolved_configs.py',
    'test_configs/test_config_tree.py',
    'test_configs/test_examples.py',
    'test_configs/test_mgp_configs.py',
    'test_datasets/test_in_memory_images.py::test_training_under_ddp',
    'test_datasets/test_in_memory_images.py::test_real_cifar10_lt_in_memory',
    'test_engine/test_hooks/test_fisher_hook.py::test_runner_writes_stats',
    'test_engine/test_runner/test_exact_resume.py',
    'test_engine/test_runner/test_fault_injection.py',
    'test_engine/test_runner/test_pipeline_mgp.py',
    'test_engine/test_runner/test_pipeline_validation.py::test_e2e_',
    'test_engine/test_runner/test_quiet_console_runner.py',
    'test_engine/test_runner/test_stage_runner.py',
    'test_engine/test_runner/test_work_dir.py::test_a_killed_holders_lock',
    'test_models/test_classifiers/test_ensemble.py::test_test_tool_',
    'test_models/test_classifiers/test_ensemble.py::test_the_join_tool_',
    'test_models/test_more/test_more_train_test.py',
    'test_models/test_more/test_more_configs.py',
    'test_osdtw/test_fisher/test_fisher_distributed.py',
    'test_osdtw/test_search.py::test_cli_writes_outputs',
    'test_tools/test_input_errors.py',
    'test_tools/test_osdtw_sgd_noise.py',
    'test_tools/test_osdtw_split_pair.py',
    'test_tools/test_train_init.py',
    'test_tools/test_train_interrupt.py',
    'test_tools/test_train_test.py',
    'test_tools/test_vit_b_dry_run.py',
    'test_utils/test_checkpoint_io.py::test_tool_',
)


def pytest_collection_modifyitems(config, items):
    root = Path(__file__).resolve().parent
    for item in items:
        path = Path(str(item.fspath)).resolve().relative_to(root)
        node = str(path) + '::' + item.name
        if node.startswith(SLOW):
            item.add_marker('slow')
