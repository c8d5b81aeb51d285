from .launch import (build_model, build_runner, load_config,
                     prepare_distributed, release_distributed,
                     resolve_work_dir, set_default_dataloader_cfg)

__all__ = [
    'build_model', 'build_runner', 'load_config', 'prepare_distributed',
    'release_distributed', 'resolve_work_dir', 'set_default_dataloader_cfg'
]
