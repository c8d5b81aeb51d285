from mmpretrain_osdtw.engine.launch import (CONFIG_ERRORS, InputError,
                                            build_runner, enable_amp,
                                            is_pipeline, load_cli_config,
                                            load_config, prepare_distributed,
                                            release_distributed,
                                            resolve_work_dir,
                                            set_default_dataloader_cfg)
from mmpretrain_osdtw.models.utils import build_model
from mmpretrain_osdtw.osdtw.fisher import (build_task_model,
                                           cross_fisher_from_configs,
                                           fisher_dataloader_cfg,
                                           task_fisher_from_config,
                                           with_progress)
from .preflight import preflight

__all__ = [
    'CONFIG_ERRORS', 'InputError', 'build_model', 'build_runner',
    'enable_amp', 'is_pipeline',
    'load_cli_config', 'load_config', 'preflight', 'prepare_distributed',
    'release_distributed', 'resolve_work_dir', 'set_default_dataloader_cfg',
    'build_task_model', 'cross_fisher_from_configs', 'fisher_dataloader_cfg',
    'task_fisher_from_config', 'with_progress'
]
