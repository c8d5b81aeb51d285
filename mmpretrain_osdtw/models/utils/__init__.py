from .backbone_init import (MGP_PREFIX, check_init_checkpoints,
                            set_backbone_init)
from .build import build_model
from .checked_pretrained import (CheckedPretrainedInit, InitCheckpointError,
                                 load_checked, load_prefixed_state)
from .mgp_geometry import check_mgp_geometry
from .vit_parts import (ViTMeta, check_vit, vit_output, vit_param_layer,
                        vit_stem)

__all__ = [
    'MGP_PREFIX', 'check_init_checkpoints', 'set_backbone_init', 'build_model',
    'CheckedPretrainedInit', 'InitCheckpointError', 'load_checked',
    'load_prefixed_state', 'check_mgp_geometry', 'ViTMeta', 'check_vit',
    'vit_output', 'vit_param_layer', 'vit_stem'
]
