from .fisher_jobs import (build_task_model, cross_fisher_from_configs,
                          fisher_dataloader_cfg, task_fisher_from_config,
                          with_progress)
from .launch import (build_model, build_runner, load_config,
                     prepare_distributed, release_distributed,
                     resolve_work_dir, set_default_dataloader_cfg)

__all__ = [
    'build_model', 'build_runner', 'load_config', 'prepare_distributed',
    'release_distributed', 'resolve_work_dir', 'set_default_dataloader_cfg',
    'build_task_model', 'cross_fisher_from_configs', 'fisher_dataloader_cfg',
    'task_fisher_from_config', 'with_progress'
]
