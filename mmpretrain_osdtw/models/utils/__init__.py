from .vit_parts import (ViTMeta, check_vit, vit_output, vit_param_layer,
                        vit_stem)

__all__ = ['ViTMeta', 'check_vit', 'vit_output', 'vit_param_layer', 'vit_stem']
