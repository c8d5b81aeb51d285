from .launch import (CONFIG_ERRORS, InputError, build_model, build_runner,
                     load_cli_config, load_config, prepare_distributed,
                     release_distributed, resolve_work_dir,
                     set_default_dataloader_cfg)
from .preflight import preflight

__all__ = [
    'CONFIG_ERRORS', 'InputError', 'build_model', 'build_runner',
    'load_cli_config', 'load_config', 'preflight', 'prepare_distributed',
    'release_distributed', 'resolve_work_dir', 'set_default_dataloader_cfg'
]
